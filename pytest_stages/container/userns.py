"""The userns backend: the root backend inside a new user namespace."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from . import namespaces
from .root import RootBackend
from .syscalls import MS_NODEV, MS_NOSUID, mount

# Kernel switches that turn off unprivileged user namespaces, and the value
# that allows them.
_SYSCTLS = (
    # Debian kernels before 6.1 and some others.
    ("kernel.unprivileged_userns_clone", "1"),
    # Ubuntu 23.10 and later with AppArmor.
    ("kernel.apparmor_restrict_unprivileged_userns", "0"),
    ("user.max_user_namespaces", "15000"),
)


class UserNamespaceBackend(RootBackend):
    """Run the session in a new user namespace where the user is root."""

    name = "userns"
    user_namespace = True


def userns_unavailable_reason() -> str | None:
    """Return why the userns backend cannot run here, or None if it can.

    A child process tries the namespaces and a tmpfs mount, the same way a
    session would start.
    """
    if not sys.platform.startswith("linux"):
        return f"needs Linux, this is {sys.platform}"
    pid = os.fork()
    if pid == 0:
        os._exit(_probe())
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return None
    return "unprivileged user namespaces are disabled: " + enable_userns_hint(code)


def _probe() -> int:
    # Read the IDs first: in the new namespace they read as the overflow ID
    # until the map is written.
    uid, gid = os.geteuid(), os.getegid()
    try:
        namespaces.unshare_session(user_namespace=True)
        namespaces.map_user_to_root(uid, gid)
        mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV)
    except OSError as error:
        return error.errno or 1
    except BaseException:
        return 1
    return 0


def enable_userns_hint(errno_code: int) -> str:
    """Return the sysctl commands that would allow user namespaces here."""
    commands = []
    for name, allowed in _SYSCTLS:
        path = Path("/proc/sys", *name.split("."))
        try:
            value = path.read_text().strip()
        except OSError:
            continue
        if name == "user.max_user_namespaces":
            if value == "0":
                commands.append(f"sudo sysctl -w {name}={allowed}")
        elif value != allowed:
            commands.append(f"sudo sysctl -w {name}={allowed}")
    if not commands:
        return (
            f"the probe failed with {os.strerror(errno_code)} (errno {errno_code}); "
            "a container runtime, seccomp or AppArmor profile may forbid them"
        )
    return "enable them with `" + "` and `".join(commands) + "`"
