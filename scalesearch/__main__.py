"""`python -m scalesearch` runs the CLI."""

import sys

from scalesearch.cli.app import main

sys.exit(main())
