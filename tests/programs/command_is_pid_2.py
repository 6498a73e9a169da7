#!/usr/bin/env python3
# Mistake: forks once more inside the new PID namespace, so the command is PID 2.
"""The reference solution with a helper process between PID 1 and the command.

PID 1 of the new namespace forks the command and waits for it, as a runtime
does that runs a shell or a helper before the command.
"""

import os
import sys

from solution import runtime


def run_command_as_pid_2(root: str, command_line: list[str]) -> int:
    runtime.die_with_parent(0)
    child = os.fork()
    if child == 0:
        runtime.run_child(lambda: runtime.exec_in_root(root, command_line))
    _, status = os.waitpid(child, 0)
    return runtime.exit_code(status)


runtime.run_command = run_command_as_pid_2
sys.exit(runtime.main())
