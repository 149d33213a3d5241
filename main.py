"""Start gam-viewer from a source checkout: ``python main.py [PATH ...]`` (same as ``gam-viewer``)."""

import sys

from gam_viewer.app import main

if __name__ == "__main__":
    sys.exit(main())
