"""Entry point of `python3 -m solution run IMAGE COMMAND [ARG...]`."""

import sys

from solution.runtime import main

sys.exit(main())
