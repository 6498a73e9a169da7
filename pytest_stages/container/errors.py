"""Errors of the session container."""

from __future__ import annotations


class NoBackendError(RuntimeError):
    """No session container backend can run on this machine.

    The message lists each backend, why it cannot run here and what to do.
    """


class SessionSetupError(RuntimeError):
    """A step of setting up the session container failed.

    The message names the step, the path involved and the errno.
    """
