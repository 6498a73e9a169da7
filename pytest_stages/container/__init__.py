"""The session container: the sandbox that the whole graded pytest session runs in.

Use::

    backend = select_backend("auto")
    status = backend.run(SessionSpec(command=[...], program_dir=Path.cwd(), ...))

Backends: ``root`` (root on Linux), ``userns`` (a non-root user on Linux with
unprivileged user namespaces), ``docker`` and ``podman`` (a container of an
image, for every other machine).
"""

from __future__ import annotations

from typing import Protocol

from .docker import IMAGE_ENV_VAR, ContainerBackend, container_unavailable_reason
from .errors import NoBackendError, SessionSetupError
from .root import RootBackend, root_unavailable_reason
from .spec import DOCKER_HUB_HOSTS, SessionSpec
from .userns import UserNamespaceBackend, userns_unavailable_reason

__all__ = [
    "BACKEND_NAMES",
    "DOCKER_HUB_HOSTS",
    "IMAGE_ENV_VAR",
    "Backend",
    "NoBackendError",
    "SessionSetupError",
    "SessionSpec",
    "select_backend",
]

BACKEND_NAMES = ("root", "userns", "docker", "podman")


class Backend(Protocol):
    """A way to run the session container."""

    name: str
    """The backend's name, one of BACKEND_NAMES."""
    reason: str
    """One line for the run header: why this backend was picked."""

    def run(self, spec: SessionSpec) -> int:
        """Run spec.command in the session container; return its exit status."""


def select_backend(requested: str = "auto", *, image: str | None = None) -> Backend:
    """Return the backend named by requested, or the first that works for "auto".

    The "auto" order is root (root on Linux), userns, docker, podman. Raises
    NoBackendError, listing for each backend why it cannot run and what to do,
    when the requested one or, for "auto", every one cannot run here. image is
    the docker or podman image; it defaults to $PYTEST_STAGES_IMAGE.
    """
    if requested != "auto" and requested not in BACKEND_NAMES:
        raise ValueError(
            f"unknown session container backend {requested!r}; "
            f"use auto or one of {', '.join(BACKEND_NAMES)}"
        )
    candidates = BACKEND_NAMES if requested == "auto" else (requested,)
    reasons = {}
    for name in candidates:
        reason = _unavailable_reason(name)
        if reason is None:
            return _make_backend(name, requested, image)
        reasons[name] = reason
    raise NoBackendError(_no_backend_message(requested, reasons))


def _unavailable_reason(name: str) -> str | None:
    if name == "root":
        return root_unavailable_reason()
    if name == "userns":
        return userns_unavailable_reason()
    return container_unavailable_reason(name)


def _make_backend(name: str, requested: str, image: str | None) -> Backend:
    choice = "requested" if requested == name else "picked automatically"
    if name == "root":
        return RootBackend(f"root: {choice}, running as root on Linux")
    if name == "userns":
        condition = "not root, unprivileged user namespaces work"
        return UserNamespaceBackend(f"userns: {choice}, {condition}")
    backend = ContainerBackend(name, "", image=image)
    backend.reason = f"{name}: {choice}, image {backend.image}"
    return backend


def _no_backend_message(requested: str, reasons: dict[str, str]) -> str:
    if requested == "auto":
        first = "No session container backend can run on this machine:"
    else:
        first = f"The session container backend {requested!r} cannot run here:"
    lines = [first] + [f"  {name}: {reason}" for name, reason in reasons.items()]
    return "\n".join(lines)
