"""The docker and podman backends: the session in a container of an image.

For machines where neither the root nor the userns backend can run, such as
macOS, Windows or a locked-down Linux. The container gets only what the
session needs: SYS_ADMIN for mounts and namespaces, NET_ADMIN for its own
network and no seccomp or AppArmor profile. It does not get --privileged,
which grants more and fails where the host's capability bounding set is
reduced. Inside, `python3 -m pytest_stages.container` starts the root
backend, so the session looks the same as on a Linux host.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from .errors import SessionSetupError
from .root import DEFAULT_INTERRUPT_TIMEOUT
from .spec import SessionSpec
from .supervise import blocked_signals, wait_for_session

IMAGE_ENV_VAR = "PYTEST_STAGES_IMAGE"
DEFAULT_IMAGE = "pytest-stages"
# A daemon that does not respond within this time counts as not running.
_PROBE_SECONDS = 10
_CONTAINER_PYTHON = "python3"


class ContainerBackend:
    """Run the session in a container started with the docker or podman CLI."""

    def __init__(
        self,
        name: str,
        reason: str,
        *,
        image: str | None = None,
        explorer_in_image: str | None = None,
        interrupt_timeout: float = DEFAULT_INTERRUPT_TIMEOUT,
    ) -> None:
        self.name = name
        self.reason = reason
        self.image = image or os.environ.get(IMAGE_ENV_VAR) or DEFAULT_IMAGE
        # None: the container builds the explorer from its own copy of the source.
        self.explorer_in_image = explorer_in_image
        self.interrupt_timeout = interrupt_timeout

    def run(self, spec: SessionSpec) -> int:
        """Run spec.command in a container; return its exit status."""
        self._check_image()
        container_name = f"pytest-stages-{secrets.token_hex(6)}"
        argv = self.command_line(spec, container_name)
        with blocked_signals() as original_mask:
            process = subprocess.Popen(
                argv,
                preexec_fn=lambda: _restore_mask(original_mask),  # noqa: PLW1509
            )
            session = _ContainerSession(self.name, process, container_name)
            return wait_for_session(session, self.interrupt_timeout)

    def command_line(self, spec: SessionSpec, container_name: str) -> list[str]:
        """Return the `docker run` command line that runs spec."""
        program_dir = str(spec.program_dir)
        argv = [self.name, "run", "--rm", "-i", "--init", "--name", container_name]
        if sys.stdin.isatty():
            argv.append("-t")

        network = "host" if spec.host_network else "none"
        argv += ["--pull", "never", "--network", network, "--cap-add", "SYS_ADMIN"]
        # Setting lo up in the session's own network namespace needs NET_ADMIN.
        argv += ["--cap-add", "NET_ADMIN"]
        argv += ["--security-opt", "seccomp=unconfined"]
        argv += ["--security-opt", "apparmor=unconfined"]

        argv += ["-v", f"{program_dir}:{program_dir}", "-w", program_dir]
        caches = self._mounted_caches(spec)
        for path in caches:
            argv += ["-v", f"{path}:{path}"]
        for key, value in spec.env.items():
            argv += ["-e", f"{key}={value}"]
        argv += ["-e", f"PYTEST_STAGES_OUTER_BACKEND={self.name}", self.image]

        # The command inside: the root backend, nested in the container.
        argv += [
            _CONTAINER_PYTHON,
            "-m",
            "pytest_stages.container",
            "--backend",
            "root",
        ]
        argv += ["--program-dir", program_dir]
        for path in caches:
            argv += ["--writable", path]
        for host in spec.hub_hosts:
            argv += ["--hub-host", host]
        if spec.host_network:
            argv += ["--host-network"]
        if self.explorer_in_image is not None:
            argv += ["--explorer", self.explorer_in_image]
        return [*argv, "--", *_container_command(spec.command)]

    def _mounted_caches(self, spec: SessionSpec) -> list[str]:
        # A cache made on another system contains binaries for that system, which
        # would break the toolchain in the Linux container.
        if not sys.platform.startswith("linux"):
            return []
        return [str(p) for p in spec.writable_paths if Path(p).is_dir()]

    def _check_image(self) -> None:
        result = subprocess.run(
            [self.name, "image", "inspect", self.image],
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise SessionSetupError(
                f"the image {self.image!r} was not found by {self.name}; build it "
                f"with `{self.name} build -t {self.image} -f docker/Dockerfile .` in "
                f"the pytest-stages source folder, or set {IMAGE_ENV_VAR} to an image "
                "that has Python 3.10+, pytest-stages, a C compiler with static "
                "libc and your toolchain"
            )


def _container_command(command: list[str]) -> list[str]:
    # The host's interpreter path means nothing in the image.
    if command and command[0] == sys.executable:
        return [_CONTAINER_PYTHON, *command[1:]]
    return list(command)


def _restore_mask(mask: set[signal.Signals]) -> None:
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


class _ContainerSession:
    """The docker or podman CLI process that runs the container."""

    def __init__(self, cli: str, process: subprocess.Popen, container_name: str):
        self.cli = cli
        self.process = process
        self.container_name = container_name

    def poll(self) -> int | None:
        code = self.process.poll()
        if code is None:
            return None
        return 128 - code if code < 0 else code

    def forward(self, signal_number: int) -> None:
        # The CLI passes the signal on to the container's init (--sig-proxy).
        self.process.send_signal(signal_number)

    def kill(self) -> None:
        subprocess.run(
            [self.cli, "kill", self.container_name],
            capture_output=True,
            check=False,
        )


def container_unavailable_reason(cli: str) -> str | None:
    """Return why the docker or podman backend cannot run here, or None."""
    if shutil.which(cli) is None:
        return f"the `{cli}` command was not found; install {cli.capitalize()}"
    # `docker version` fails when the daemon is down. Podman has no daemon on
    # Linux, and `podman info` fails when its VM is down on macOS or Windows.
    if cli == "podman":
        probe = [cli, "info", "--format", "{{.Host.Arch}}"]
    else:
        probe = [cli, "version", "--format", "{{.Server.Version}}"]
    try:
        result = subprocess.run(
            probe,
            capture_output=True,
            text=True,
            timeout=_PROBE_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"`{' '.join(probe)}` did not respond within {_PROBE_SECONDS} s"
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1:] or ["no output"]
        return f"the {cli} daemon is not responding ({detail[0]}); start it"
    return None
