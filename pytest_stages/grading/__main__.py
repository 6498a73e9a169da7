"""Run ``python3 -m pytest_stages.grading grade|merge ...``."""

import sys

from pytest_stages.grading.cli import main

sys.exit(main())
