"""bondcni_build: builds the plugin's node artifacts from bondcni; never on a node, never in them.

    python -m bondcni_build.bond         bin/bond: one file, byte-code per python3 minor (bond.py; its
                                         layout: archive.py), for nodes with python3 >= 3.9
    python -m bondcni_build.standalone   bin/bond-standalone/: the plugin with its own Python

A package of its own so that what runs on nodes (bondcni) holds only that: a build imports half the standard
library (argparse, ast, subprocess, importlib.metadata) and drives Nuitka or PyInstaller. sources.py is what
both builds put in: bondcni's files, the third-party packages it imports, the commit it was built from.
"""
