from bondlab.cli import main

raise SystemExit(main())
