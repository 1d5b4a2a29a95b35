"""`python -m server.cli`: how `torchrun` starts one `robust-canvas train` process per GPU."""
import sys

from .main import main

if __name__ == "__main__":
    sys.exit(main())
