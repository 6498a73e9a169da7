"""Mount steps that build the session's view of the host's files.

Every function here runs inside the session's new mount namespace, so nothing it
mounts is visible on the host, and the kernel unmounts all of it when the last
process of the session exits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .syscalls import (
    MS_BIND,
    MS_NOATIME,
    MS_NODEV,
    MS_NODIRATIME,
    MS_NOEXEC,
    MS_NOSUID,
    MS_NOSYMFOLLOW,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_RELATIME,
    MS_REMOUNT,
    MS_STRICTATIME,
    mount,
)

# Per-mount options as /proc/self/mountinfo shows them, and their mount(2) flags.
# A remount must repeat them: in a user namespace the kernel locks the flags a
# mount had when the namespace was made, and a remount that drops one fails
# with EPERM.
_MOUNT_OPTION_FLAGS = {
    "ro": MS_RDONLY,
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
    "nosymfollow": MS_NOSYMFOLLOW,
}

FRESH_TMPFS_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
EXPLORER_DIR = "/usr/local/bin"


@dataclass(frozen=True)
class MountPoint:
    """One line of /proc/self/mountinfo: where a mount is and its own flags."""

    path: str
    flags: int


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes.
    for escaped, plain in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n")):
        field = field.replace(escaped, plain)
    return field.replace("\\134", "\\")


def read_mount_points(mountinfo: str = "/proc/self/mountinfo") -> list[MountPoint]:
    """Return the mounts of this mount namespace, parents before children."""
    points = []
    with open(mountinfo, encoding="utf-8", errors="surrogateescape") as file:
        for line in file:
            fields = line.split()
            flags = 0
            for option in fields[5].split(","):
                flags |= _MOUNT_OPTION_FLAGS.get(option, 0)
            points.append(MountPoint(_unescape(fields[4]), flags))
    return points


def make_mounts_private() -> None:
    """Stop mount events propagating between the session and the host.

    On systemd hosts / is a shared mount, so without this every mount below
    would also appear on the host.
    """
    mount(None, "/", None, MS_REC | MS_PRIVATE)


def is_under(path: str, folder: str) -> bool:
    """Return whether path is folder or lies below it."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def remount_read_only(skip: tuple[str, ...] = ("/proc",)) -> None:
    """Make every mount of the host read-only inside the session.

    Mounts under the folders in skip are left as they are, because a later step
    covers them (a new /proc). A read-only bind remount changes only this
    namespace's copy of a mount, never the host's.
    """
    for point in read_mount_points():
        if point.flags & MS_RDONLY:
            continue
        if any(is_under(point.path, folder) for folder in skip):
            continue
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY | point.flags
        try:
            mount(None, point.path, None, flags)
        except (FileNotFoundError, PermissionError):
            # A mount under a deleted path, or, in a user namespace, under a
            # folder the user may not search (such as another runtime's
            # /var/lib/docker). The session cannot reach it by name either, so
            # it cannot write through it.
            continue


def mount_fresh_tmpfs(folders: tuple[str, ...] = FRESH_TMPFS_DIRS) -> None:
    """Mount an empty, private tmpfs on each of folders that exists."""
    for folder in folders:
        if os.path.isdir(folder):
            mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")


def bind_writable(source_fd: int, target: str) -> None:
    """Bind the folder open as source_fd on target and make it writable.

    source_fd was opened before the tmpfs mounts, so it still reaches a host
    folder that now lies under a fresh /tmp. The target is created when it lies
    on a fresh tmpfs.
    """
    os.makedirs(target, exist_ok=True)
    mount(f"/proc/self/fd/{source_fd}", target, None, MS_BIND | MS_REC)
    flags = _flags_of(target) & ~MS_RDONLY
    mount(None, target, None, MS_BIND | MS_REMOUNT | flags)


def bind_read_only(source_fd: int, target: str) -> None:
    """Bind the folder open as source_fd on target, read-only.

    Like bind_writable, for a host folder under a fresh tmpfs that must stay
    visible but not writable.
    """
    os.makedirs(target, exist_ok=True)
    mount(f"/proc/self/fd/{source_fd}", target, None, MS_BIND | MS_REC)
    flags = _flags_of(target) | MS_RDONLY
    mount(None, target, None, MS_BIND | MS_REMOUNT | flags)


def _flags_of(path: str) -> int:
    # The last line for a path is the mount on top, the one that path reaches.
    flags = 0
    for point in read_mount_points():
        if point.path == path:
            flags = point.flags
    return flags


def bind_file(source: str, target: str) -> None:
    """Bind the file source over target, which must exist."""
    mount(source, target, None, MS_BIND)


def install_explorer(explorer_dir: str, target: str = EXPLORER_DIR) -> None:
    """Show the files of explorer_dir in target, over the host's files there.

    A read-only overlay with two lower folders keeps every host file in target
    visible and adds the explorer without writing to the host.
    """
    if not os.path.isdir(target):
        raise FileNotFoundError(2, f"{target} does not exist on this machine")
    lower = f"{_escape_overlay(explorer_dir)}:{_escape_overlay(target)}"
    mount("overlay", target, "overlay", MS_RDONLY, f"lowerdir={lower}")


def _escape_overlay(path: str) -> str:
    # overlayfs splits its options on "," and lower folders on ":".
    return path.replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")


def mount_proc() -> None:
    """Mount a proc that shows the session's PID namespace.

    Run by PID 1 of the session, because a proc mount shows the PID namespace
    of the process that mounts it.
    """
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
