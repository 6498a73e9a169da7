"""What a session runs and which host folders it may write."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Docker Hub's host names; inside the session they resolve to loopback, where
# the hub listens.
DOCKER_HUB_HOSTS = (
    "registry-1.docker.io",
    "registry.hub.docker.com",
    "index.docker.io",
    "auth.docker.io",
    "production.cloudflare.docker.com",
)


@dataclass
class SessionSpec:
    """The command a session runs and what it may see and write."""

    command: list[str]
    """The inner command, usually the inner pytest; argv[0] is looked up in PATH."""
    program_dir: Path
    """The student's folder: writable inside, and the working directory there."""
    writable_paths: list[Path] = field(default_factory=list)
    """Toolchain caches that stay writable; missing ones are skipped."""
    explorer: Path | None = None
    """A static binary shown at /usr/local/bin/docker-explorer inside."""
    hub_hosts: list[str] = field(default_factory=lambda: list(DOCKER_HUB_HOSTS))
    """Host names that resolve to 127.0.0.1 and ::1 inside."""
    env: dict[str, str] = field(default_factory=dict)
    """Environment added to the host's for the inner command."""
    readable_paths: list[Path] = field(default_factory=lambda: python_environment())
    """Host folders that stay visible, read-only, where a fresh /tmp, /var/tmp
    or /dev/shm would hide them; missing ones are skipped. By default this
    Python's environment, which the inner pytest runs in."""
    host_network: bool = False
    """Keep the host's network instead of one with only loopback; for grading
    against the real Docker Hub. Pass no hub_hosts with it."""


def python_environment() -> list[Path]:
    """Return the folders this Python needs: its prefixes, its sys.path, and
    the folder pytest_stages is installed in (a checkout, for an editable
    install, which sys.path does not name).

    A virtual environment or a checkout under /tmp would otherwise vanish
    under the session's fresh /tmp.
    """
    installed_in = str(Path(__file__).resolve().parents[2])
    folders = {sys.prefix, sys.base_prefix, sys.exec_prefix, installed_in, *sys.path}
    return sorted(
        Path(folder) for folder in folders if folder and os.path.isdir(folder)
    )
