"""The namespace session shared by the root and userns backends.

The host process (the outer pytest) forks a leader, which moves into new
namespaces and forks the session's PID 1. PID 1 builds the mounts, then execs
the inner command, so the inner command is PID 1 itself. When it exits, the
kernel kills every process left in its PID namespace, nested ones too.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

from . import mounts, namespaces
from .errors import SessionSetupError
from .spec import SessionSpec
from .supervise import blocked_signals, exit_status, wait_for_session
from .syscalls import set_parent_death_signal

SESSION_DIR_PREFIX = "pytest-stages-session-"
CA_BUNDLE_PATHS = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/ssl/cert.pem",
)
CA_ENV_VARS = (
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
)
# The exit status of a session whose set-up failed; the error goes to the host.
SETUP_FAILED_STATUS = 125
_SIGNALS_TO_RESET = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGQUIT,
    signal.SIGHUP,
    signal.SIGPIPE,
    signal.SIGXFSZ,
)


@dataclass(frozen=True)
class SessionFiles:
    """The session folder on the host and the files made in it."""

    path: Path
    hosts: Path
    ca_bundle: Path
    ca_bundle_target: str | None
    explorer_dir: Path | None


def prepare_session_dir(spec: SessionSpec) -> SessionFiles:
    """Make the session folder with its hosts file, CA bundle and explorer.

    Raises SessionSetupError, and leaves no folder behind, when a file cannot
    be read or written.
    """
    path = Path(tempfile.mkdtemp(prefix=SESSION_DIR_PREFIX))
    try:
        return _fill_session_dir(path, spec)
    except OSError as error:
        shutil.rmtree(path, ignore_errors=True)
        raise SessionSetupError(
            f"session container set-up failed at step 'make the session folder': "
            f"{error}"
        ) from error


def _fill_session_dir(path: Path, spec: SessionSpec) -> SessionFiles:
    path.chmod(0o755)
    hosts = path / "hosts"
    hosts.write_text(_hosts_text(spec.hub_hosts))
    ca_bundle = path / "ca-bundle.pem"
    ca_bundle_target = next((p for p in CA_BUNDLE_PATHS if os.path.isfile(p)), None)
    if ca_bundle_target is None:
        ca_bundle.touch()
    else:
        shutil.copyfile(ca_bundle_target, ca_bundle)
        ca_bundle_target = os.path.realpath(ca_bundle_target)
    explorer_dir = None
    if spec.explorer is not None:
        explorer_dir = path / "bin"
        explorer_dir.mkdir()
        shutil.copy(spec.explorer, explorer_dir / "docker-explorer")
    return SessionFiles(path, hosts, ca_bundle, ca_bundle_target, explorer_dir)


def _hosts_text(hub_hosts: list[str]) -> str:
    try:
        text = Path("/etc/hosts").read_text()
    except FileNotFoundError:
        text = "127.0.0.1 localhost\n"
    names = " ".join(hub_hosts)
    if not names:
        return text
    # The hub's lines come first, because the C library uses the first line
    # that names a host, and the host's file may name Docker Hub already.
    hub_lines = f"# The hub of pytest-stages\n127.0.0.1 {names}\n::1 {names}\n"
    return hub_lines + text


def session_environment(
    spec: SessionSpec, backend_name: str, files: SessionFiles
) -> dict[str, str]:
    """Return the inner command's environment."""
    env = dict(os.environ)
    env.update(spec.env)
    # A TMPDIR outside the fresh temporary folders would be read-only inside.
    tmpdir = env.get("TMPDIR")
    if tmpdir and not any(
        mounts.is_under(os.path.realpath(tmpdir), folder)
        for folder in mounts.FRESH_TMPFS_DIRS
    ):
        del env["TMPDIR"]
    env["PYTEST_STAGES_INSIDE"] = backend_name
    env["PYTEST_STAGES_SESSION_DIR"] = str(files.path)
    for name in CA_ENV_VARS:
        env[name] = str(files.ca_bundle)
    return env


def run_session(
    spec: SessionSpec,
    backend_name: str,
    *,
    user_namespace: bool,
    interrupt_timeout: float,
) -> int:
    """Run spec.command in new namespaces and return its exit status.

    Raises SessionSetupError when a set-up step fails. The session folder is
    removed afterwards in every case.
    """
    files = prepare_session_dir(spec)
    try:
        env = session_environment(spec, backend_name, files)
        with blocked_signals() as original_mask:
            session = _start(spec, files, env, user_namespace, original_mask)
            return wait_for_session(session, interrupt_timeout)
    finally:
        shutil.rmtree(files.path, ignore_errors=True)


class _NamespaceSession:
    """The leader process on the host and PID 1 of the session."""

    def __init__(self, leader: int, pid1: int) -> None:
        self.leader = leader
        self.pid1 = pid1

    def poll(self) -> int | None:
        pid, status = os.waitpid(self.leader, os.WNOHANG)
        return exit_status(status) if pid else None

    def forward(self, signal_number: int) -> None:
        # PID 1 of a namespace gets only the signals it has a handler for. A
        # Python inner command handles SIGINT (KeyboardInterrupt) but usually
        # not SIGTERM, so SIGTERM is sent as SIGINT when it would be dropped.
        if signal_number == signal.SIGTERM and not _catches(self.pid1, signal_number):
            signal_number = signal.SIGINT
        _kill_quietly(self.pid1, signal_number)

    def kill(self) -> None:
        _kill_quietly(self.pid1, signal.SIGKILL)


def _catches(pid: int, signal_number: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as file:
            for line in file:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signal_number - 1) & 1)
    except OSError:
        pass
    return False


def _kill_quietly(pid: int, signal_number: int) -> None:
    try:
        os.kill(pid, signal_number)
    except ProcessLookupError:
        pass


def _start(
    spec: SessionSpec,
    files: SessionFiles,
    env: dict[str, str],
    user_namespace: bool,
    original_mask: set[signal.Signals],
) -> _NamespaceSession:
    error_read, error_write = os.pipe2(os.O_CLOEXEC)
    pid_read, pid_write = os.pipe2(os.O_CLOEXEC)
    host_pid, uid, gid = os.getpid(), os.geteuid(), os.getegid()
    leader = os.fork()
    if leader == 0:
        os.close(error_read)
        os.close(pid_read)
        _run_leader(
            _Child(spec, files, env, user_namespace, original_mask, error_write),
            host_pid,
            uid,
            gid,
            pid_write,
        )
    os.close(error_write)
    os.close(pid_write)
    # Both reads return once PID 1 has exec'd the command or set-up has failed,
    # because then every copy of the write ends is closed.
    message = _read_all(error_read).decode(errors="replace")
    pid1_text = _read_all(pid_read).decode()
    if message:
        os.waitpid(leader, 0)
        raise SessionSetupError(message)
    return _NamespaceSession(leader, int(pid1_text))


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


@dataclass
class _Child:
    """The settings the leader and PID 1 use after the fork."""

    spec: SessionSpec
    files: SessionFiles
    env: dict[str, str]
    user_namespace: bool
    original_mask: set[signal.Signals]
    error_write: int


def _run_leader(child: _Child, host_pid: int, uid: int, gid: int, pid_write: int):
    """Enter the new namespaces, fork PID 1 and exit with its status. Never returns."""
    try:
        _step("watch the host process", set_parent_death_signal, signal.SIGKILL)
        if os.getppid() != host_pid:
            os._exit(SETUP_FAILED_STATUS)
        # The terminal's Ctrl-C reaches the leader too, but only the host
        # process and PID 1 act on it.
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP):
            signal.signal(number, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_SETMASK, child.original_mask)
        _step(
            "unshare namespaces",
            namespaces.unshare_session,
            child.user_namespace,
            child.spec.host_network,
        )
        if child.user_namespace:
            _step("map the user to root", namespaces.map_user_to_root, uid, gid)
        pid1 = os.fork()
        if pid1 == 0:
            _run_pid1(child)
        os.write(pid_write, str(pid1).encode())
        os.close(pid_write)
        os.close(child.error_write)
        _, status = os.waitpid(pid1, 0)
        os._exit(exit_status(status))
    except BaseException as error:
        _report_and_exit(child.error_write, error)


def _run_pid1(child: _Child):
    """Build the session's mounts and exec the command as PID 1. Never returns."""
    try:
        # getppid() returns 0 here, because the leader is outside the PID
        # namespace, so a leader that died before this step goes unnoticed.
        # It dies only by SIGKILL, and then the host process gets its status.
        _step("watch the leader", set_parent_death_signal, signal.SIGKILL)
        for number in _SIGNALS_TO_RESET:
            signal.signal(number, signal.SIG_DFL)
        _build_mounts(child.spec, child.files)
        if not child.spec.host_network:
            _step("bring lo up", namespaces.bring_loopback_up)
        _step("set the host name", namespaces.set_hostname)
        _step("enter the program folder", os.chdir, child.spec.program_dir)
        command = child.spec.command
        _step(f"run {command[0]}", os.execvpe, command[0], command, child.env)
    except BaseException as error:
        _report_and_exit(child.error_write, error)


def _build_mounts(spec: SessionSpec, files: SessionFiles) -> None:
    _step("make mounts private", mounts.make_mounts_private)
    # Open the folders to keep before a fresh /tmp can hide them. They are
    # bound from the outermost in, so an inner folder's mode wins.
    writable = [files.path, Path(spec.program_dir)]
    writable += [Path(p) for p in spec.writable_paths if os.path.isdir(p)]
    binds = {Path(os.path.realpath(p)): True for p in writable}
    for path in _hidden_by_fresh_tmpfs(spec.readable_paths):
        binds.setdefault(path, False)
    folder_fds = [
        (_step(f"open {p}", os.open, p, os.O_PATH | os.O_CLOEXEC), str(p), binds[p])
        for p in sorted(binds, key=_depth)
    ]
    _step("remount the host's files read-only", mounts.remount_read_only)
    _step("mount a fresh /tmp, /var/tmp and /dev/shm", mounts.mount_fresh_tmpfs)
    for fd, target, is_writable in folder_fds:
        if is_writable:
            _step(f"bind {target} writable", mounts.bind_writable, fd, target)
        else:
            _step(f"bind {target} read-only", mounts.bind_read_only, fd, target)
        os.close(fd)
    _step("replace /etc/hosts", mounts.bind_file, str(files.hosts), "/etc/hosts")
    if files.ca_bundle_target is not None:
        target = files.ca_bundle_target
        _step(f"replace {target}", mounts.bind_file, str(files.ca_bundle), target)
    if files.explorer_dir is not None:
        _step("install the explorer", mounts.install_explorer, str(files.explorer_dir))
    _step("mount /proc", mounts.mount_proc)


def _hidden_by_fresh_tmpfs(paths: list[Path]) -> list[Path]:
    """Return the existing folders of paths that lie under a fresh tmpfs folder."""
    found = []
    for path in paths:
        real = os.path.realpath(path)
        hidden = any(
            mounts.is_under(real, folder) for folder in mounts.FRESH_TMPFS_DIRS
        )
        if hidden and os.path.isdir(real):
            found.append(Path(real))
    return found


def _depth(path: Path) -> int:
    return len(path.parts)


def _step(name: str, function, *args):
    """Run one set-up step; name it and its errno in the error if it fails."""
    try:
        return function(*args)
    except OSError as error:
        code = errno.errorcode.get(error.errno or 0, "unknown errno")
        raise SessionSetupError(
            f"session container set-up failed at step '{name}': "
            f"{error.strerror or error} ({code})"
        ) from error


def _report_and_exit(error_write: int, error: BaseException):
    if isinstance(error, SessionSetupError):
        message = str(error)
    else:
        message = "session container set-up failed:\n" + "".join(
            traceback.format_exception(error)
        )
    try:
        os.write(error_write, message.encode())
    finally:
        os._exit(SETUP_FAILED_STATUS)
