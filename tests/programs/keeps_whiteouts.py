#!/usr/bin/env python3
# Mistake: extracts whiteout entries (.wh.NAME) as files and deletes nothing.
"""The reference solution with no whiteout handling.

extract_layer recognises whiteouts by WHITEOUT_PREFIX. With a prefix that no
entry starts with, it extracts every .wh. entry as an ordinary file.
"""

import sys

from solution import layers, runtime

layers.WHITEOUT_PREFIX = "\0"
sys.exit(runtime.main())
