"""`python -m scalesearch` runs the CLI."""

import sys

from scalesearch.cli import main

sys.exit(main())
