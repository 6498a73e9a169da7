#!/usr/bin/env python3
# Mistake: never calls chroot, so the command runs on the host's filesystem.
"""The reference solution with its chroot step left out."""

import os
import sys

from solution import runtime


def exec_without_chroot(root: str, command_line: list[str]) -> int:
    os.execvp(command_line[0], command_line)


runtime.exec_in_root = exec_without_chroot
sys.exit(runtime.main())
