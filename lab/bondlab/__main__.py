from bondlab.cli.main import main

raise SystemExit(main())
