#!/usr/bin/env python3
# Mistake: creates no PID namespace, so the command keeps the host's PID numbers.
"""The reference solution with CLONE_NEWPID left out of its unshare call.

The reference's run_command checks that its parent is outside its PID
namespace (getppid() returns 0), which is false without the namespace, so the
command is started here without that check.
"""

import sys

from solution import runtime

unshare_all = runtime.unshare


def unshare_without_pid(flags: int) -> None:
    unshare_all(flags & ~runtime.CLONE_NEWPID)


def run_command_in_same_namespace(root: str, command_line: list[str]) -> int:
    return runtime.exec_in_root(root, command_line)


runtime.unshare = unshare_without_pid
runtime.run_command = run_command_in_same_namespace
sys.exit(runtime.main())
