"""Waiting for a session while Ctrl-C and SIGTERM are forwarded to it."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from typing import Protocol

# The si_code of a signal that the kernel sent, such as SIGINT from the
# terminal on Ctrl-C, from <asm-generic/siginfo.h>.
SI_KERNEL = 0x80
SESSION_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGCHLD}
_POLL_SECONDS = 0.5


class SessionProcess(Protocol):
    """The process on the host that stands for a running session."""

    def poll(self) -> int | None:
        """Return the session's exit status once it has ended, else None."""

    def forward(self, signal_number: int) -> None:
        """Send an interrupt or termination request into the session."""

    def kill(self) -> None:
        """End the session now, every process in it included."""


@contextlib.contextmanager
def blocked_signals() -> Iterator[set[signal.Signals]]:
    """Hold SIGINT, SIGTERM and SIGCHLD for sigtimedwait; yield the old mask.

    Blocking them before the session starts means a Ctrl-C during set-up is
    kept until the wait loop handles it, instead of raising KeyboardInterrupt
    in the middle of a fork.
    """
    original = signal.pthread_sigmask(signal.SIG_BLOCK, SESSION_SIGNALS)
    try:
        yield original
    finally:
        # Drop what is still pending, so it does not fire once unblocked.
        while signal.sigtimedwait(SESSION_SIGNALS, 0) is not None:
            pass
        signal.pthread_sigmask(signal.SIG_SETMASK, original)


def wait_for_session(process: SessionProcess, interrupt_timeout: float) -> int:
    """Wait for the session to end and return its exit status.

    The first SIGINT or SIGTERM is forwarded into the session, which then tears
    itself down. A SIGINT from the terminal is not forwarded, because the
    terminal already sent it to the whole foreground process group, the session
    included. A second signal, or interrupt_timeout seconds after the first,
    kills the session. Must run inside blocked_signals().
    """
    deadline: float | None = None
    received = 0
    while (status := process.poll()) is None:
        timeout = _POLL_SECONDS
        if deadline is not None:
            timeout = max(0.0, min(timeout, deadline - time.monotonic()))
        info = signal.sigtimedwait(SESSION_SIGNALS, timeout)
        if deadline is not None and time.monotonic() >= deadline:
            process.kill()
            deadline = None
        if info is None or info.si_signo == signal.SIGCHLD:
            continue
        received += 1
        if received == 1:
            if not (info.si_signo == signal.SIGINT and info.si_code == SI_KERNEL):
                process.forward(info.si_signo)
            deadline = time.monotonic() + interrupt_timeout
        else:
            process.kill()
    return status


def exit_status(wait_status: int) -> int:
    """Return a shell-style exit status: the code, or 128 + the signal number."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.waitstatus_to_exitcode(wait_status)
