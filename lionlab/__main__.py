"""`python -m lionlab ...` is the `lionlab` command."""

import sys

from lionlab.cli import main

sys.exit(main())
