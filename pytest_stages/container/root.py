"""The root backend: new namespaces for a session started by root on Linux."""

from __future__ import annotations

import os
import sys

from .session import run_session
from .spec import SessionSpec

DEFAULT_INTERRUPT_TIMEOUT = 30.0


class RootBackend:
    """Run the session in new mount, network, UTS, IPC and PID namespaces."""

    name = "root"
    user_namespace = False

    def __init__(
        self, reason: str, interrupt_timeout: float = DEFAULT_INTERRUPT_TIMEOUT
    ):
        self.reason = reason
        self.interrupt_timeout = interrupt_timeout

    def run(self, spec: SessionSpec) -> int:
        """Run spec.command in the session container; return its exit status."""
        return run_session(
            spec,
            self.name,
            user_namespace=self.user_namespace,
            interrupt_timeout=self.interrupt_timeout,
        )


def root_unavailable_reason() -> str | None:
    """Return why the root backend cannot run here, or None if it can."""
    if not sys.platform.startswith("linux"):
        return f"needs Linux, this is {sys.platform}"
    if os.geteuid() != 0:
        return "needs root (effective user ID 0); run pytest as root, e.g. with sudo"
    return None
