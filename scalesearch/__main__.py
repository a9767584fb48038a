"""`python -m scalesearch` runs the CLI."""

import sys

from scalesearch.cli.main import main

sys.exit(main())
