"""`python -m qa`: the same as the `aluqa` command."""

import sys

from ui.cli import main

if __name__ == "__main__":
    sys.exit(main())
