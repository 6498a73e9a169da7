"""Find and kill every process a program started, wherever it moved to.

A program under test may fork, double-fork into a new session, change its
process group, or start children in a new PID namespace. None of those escape
the parent links in ``/proc``, and with this process marked as a child
subreaper, orphans are re-parented to it instead of to init. So the process
tree below this process is the complete set of what a run left behind.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path

_PR_SET_CHILD_SUBREAPER = 36
_PROC = Path("/proc")


def become_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process; return whether it worked.

    Only Linux has subreapers. Elsewhere the runner falls back to the process
    snapshots it takes while a program runs.
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def parent_links(zombies: bool = False) -> dict[int, int]:
    """Map each process ID to its parent's ID, read from ``/proc``.

    Zombies have exited already and only wait to be reaped, so they are left
    out unless ``zombies`` is true.
    """
    links: dict[int, int] = {}
    for entry in _PROC.iterdir() if _PROC.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # The process ended while the folder was read.
        # The command name is in parentheses and may contain spaces or ")".
        state, parent = stat[stat.rindex(")") + 2 :].split()[:2]
        if zombies or state != "Z":
            links[int(entry.name)] = int(parent)
    return links


def children_of(pid: int) -> set[int]:
    """Return the IDs of the direct children of ``pid``."""
    return {child for child, parent in parent_links().items() if parent == pid}


def descendants(roots: Iterable[int]) -> set[int]:
    """Return ``roots`` that still exist and every process below them."""
    links = parent_links()
    children: dict[int, list[int]] = {}
    for child, parent in links.items():
        children.setdefault(parent, []).append(child)
    found: set[int] = set()
    pending = [pid for pid in roots if pid in links]
    while pending:
        pid = pending.pop()
        if pid in found:
            continue
        found.add(pid)
        pending.extend(children.get(pid, ()))
    return found


def kill_all(pids: Iterable[int], spare: Iterable[int] = (), rounds: int = 50) -> None:
    """Kill ``pids`` and everything below them, and reap the ones that are ours.

    Each round first stops every process so that none can fork a new child
    between the scan and the kill, then kills them. Rounds repeat until no
    process is left or ``rounds`` is used up. Processes in ``spare`` are killed
    but not reaped, because their owner (a ``subprocess.Popen``) reaps them.
    """
    spared = set(spare)
    targets = set(pids)
    for _ in range(rounds):
        alive = descendants(targets)
        if not alive:
            break
        targets |= alive
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in alive:
                _send(pid, sig)
        reap(alive - spared)
        time.sleep(0.005)
    # A process killed after its parent is re-parented to this process as a
    # zombie only once the parent is gone, so it is reaped here.
    me = os.getpid()
    zombies = {
        pid for pid, parent in parent_links(zombies=True).items() if parent == me
    }
    reap((zombies & targets) - spared)


def reap(pids: Iterable[int]) -> None:
    """Collect the exit status of those ``pids`` that are finished children of ours."""
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass  # Not our child: its own parent reaps it.


def _send(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # Already gone, or a process we may not touch.
