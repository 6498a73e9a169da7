"""Counting what a session could leave behind on the host, for tests and benchmarks."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from .session import SESSION_DIR_PREFIX

# Mounts of container runtimes come and go with the containers of other
# programs on the host, so mount points under their folders are left out: any
# path with "docker" in it (/var/lib/docker, a test daemon's data root) and
# Podman's. A container that the docker backend leaves running still shows up
# as a process with the marker.
_RUNTIME_MOUNT_WORD = "docker"
_RUNTIME_MOUNT_FOLDERS = ("/var/lib/containers/", "/run/containers/", "/run/netns/")


@dataclass(frozen=True)
class LeakSnapshot:
    """Processes, mounts and session folders on the host at one moment."""

    processes: frozenset[int]
    """PIDs whose command line or environment contains the marker."""
    mounts: frozenset[str]
    """Lines of the host's /proc/self/mountinfo, other runtimes' left out."""
    session_dirs: frozenset[str]
    """Session folders in the host's temporary folder."""

    @classmethod
    def take(cls, marker: str, temp_dir: str | None = None) -> LeakSnapshot:
        """Scan /proc and temp_dir (default: the temporary folder) now."""
        return cls(
            frozenset(processes_with_marker(marker)),
            frozenset(_host_mounts()),
            frozenset(_session_dirs(temp_dir or tempfile.gettempdir())),
        )

    def leaks_since(self, before: LeakSnapshot) -> dict[str, list]:
        """Return what exists now but did not in before, by kind."""
        return {
            "processes": sorted(self.processes - before.processes),
            "mounts": sorted(self.mounts - before.mounts),
            "session_dirs": sorted(self.session_dirs - before.session_dirs),
        }


def processes_with_marker(marker: str) -> list[int]:
    """Return the PIDs whose command line or environment contains marker."""
    needle = marker.encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        for part in ("cmdline", "environ"):
            try:
                with open(f"/proc/{name}/{part}", "rb") as file:
                    if needle in file.read():
                        found.append(int(name))
                        break
            except OSError:
                continue
    return found


def _host_mounts() -> list[str]:
    lines = []
    with open("/proc/self/mountinfo") as file:
        for line in file:
            mount_point = line.split()[4] + "/"
            if _RUNTIME_MOUNT_WORD in mount_point:
                continue
            if not mount_point.startswith(_RUNTIME_MOUNT_FOLDERS):
                lines.append(line.rstrip("\n"))
    return lines


def _session_dirs(folder: str) -> list[str]:
    return [n for n in os.listdir(folder) if n.startswith(SESSION_DIR_PREFIX)]
