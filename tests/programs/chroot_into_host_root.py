#!/usr/bin/env python3
# Mistake: chroots into / instead of the new root, which hides none of the host's files.
"""The reference solution with chroot given the host's root folder."""

import sys

from solution import runtime

exec_in_new_root = runtime.exec_in_root


def exec_in_host_root(root: str, command_line: list[str]) -> int:
    return exec_in_new_root("/", command_line)


runtime.exec_in_root = exec_in_host_root
sys.exit(runtime.main())
