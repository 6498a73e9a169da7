"""Namespace steps: the new namespaces, the user mapping, the network and name."""

from __future__ import annotations

import fcntl
import socket
import struct

from .syscalls import (
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    unshare,
)

SESSION_NAMESPACES = (
    CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID
)
SESSION_HOSTNAME = "pytest-stages"

# Network interface ioctls and flags from <linux/sockios.h> and <net/if.h>.
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = struct.Struct("16sh22x")


def unshare_session(user_namespace: bool, host_network: bool = False) -> None:
    """Move this process into new namespaces; its next child is PID 1 there.

    With user_namespace, the new user namespace is made in the same call, so it
    owns the others and the unprivileged caller may make them. With
    host_network, the session keeps the host's network namespace.
    """
    flags = SESSION_NAMESPACES | (CLONE_NEWUSER if user_namespace else 0)
    if host_network:
        flags &= ~CLONE_NEWNET
    unshare(flags)


def map_user_to_root(uid: int, gid: int) -> None:
    """Map the caller's user and group to root in its new user namespace.

    An unprivileged process may map only its own IDs, and only after it denies
    setgroups(2) in the namespace, so that it cannot drop a group that denies
    it access on the host.
    """
    with open("/proc/self/setgroups", "w") as file:
        file.write("deny")
    with open("/proc/self/uid_map", "w") as file:
        file.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as file:
        file.write(f"0 {gid} 1")


def bring_loopback_up() -> None:
    """Set lo up: a new network namespace starts with lo down and nothing else."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = _IFREQ.pack(b"lo", 0)
        _, flags = _IFREQ.unpack(fcntl.ioctl(sock, _SIOCGIFFLAGS, request))
        fcntl.ioctl(sock, _SIOCSIFFLAGS, _IFREQ.pack(b"lo", flags | _IFF_UP))


def set_hostname() -> None:
    """Give the session's UTS namespace its own host name."""
    socket.sethostname(SESSION_HOSTNAME)
