"""Run a command in a fresh root folder and in new PID and UTS namespaces.

The process tree during a run:

    python3 -m solution run ...    (the parent: pulls, waits, cleans up)
    └── intermediate child          (calls unshare, waits, relays the status)
        └── the command             (PID 1 of the new PID namespace, chrooted)

unshare(CLONE_NEWPID) does not move the caller into the new PID namespace;
only its next child starts there, as PID 1. That is why there are two forks.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import signal
import sys
import tempfile
import traceback

from solution import layers, registry

USAGE = "usage: python3 -m solution run IMAGE COMMAND [ARG...]"

# Flags of unshare(2), from <sched.h>.
CLONE_NEWUTS = 0x04000000  # own host name, so `hostname x` does not rename the host
CLONE_NEWPID = 0x20000000  # own PID numbers, so the command is PID 1
NAMESPACE_FLAGS = CLONE_NEWPID | CLONE_NEWUTS
PR_SET_PDEATHSIG = 1  # prctl(2) option

# The PATH that Docker sets when an image sets none.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def parse_arguments(argv: list[str]) -> tuple[str, list[str]] | None:
    """Return (IMAGE, [COMMAND, ARG...]) from `run IMAGE COMMAND [ARG...]`, or None."""
    if len(argv) < 3 or argv[0] != "run":
        return None
    return argv[1], argv[2:]


def pull(image: str, root: str) -> bool:
    """Pull IMAGE into ROOT; return False when the run must stop."""
    try:
        registry.pull_image(image, root)
    except registry.RegistryUnreachable as error:
        # With no network at all (stages 1 to 5 run offline), the command is
        # still run, in an empty root.
        print(
            f"solution: image {image} not pulled, using an empty root: {error}",
            file=sys.stderr,
        )
    except registry.PullError as error:
        print(f"solution: cannot pull {image}: {error}", file=sys.stderr)
        return False
    return True


def copy_command(root: str, command: str) -> None:
    """Copy an absolute COMMAND from the host into ROOT when the image lacks it.

    The checks run a helper binary from the host, e.g. /usr/local/bin/docker-explorer,
    inside an image that does not contain it.
    """
    if not os.path.isabs(command) or not os.path.isfile(command):
        return
    target = layers.resolve(root, command, follow_last=True)
    if os.path.lexists(target):
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy2(command, target)


def make_dev(root: str) -> None:
    """Create /dev in ROOT, so programs that look for the folder find it.

    No /dev/null is needed: Go's os/exec opens /dev/null for a stream that is
    not connected, but here stdin, stdout and stderr are inherited file
    descriptors, so nothing opens /dev/null on the command's behalf.
    """
    os.makedirs(layers.resolve(root, "dev", follow_last=True), exist_ok=True)


def unshare(flags: int) -> None:
    """Call unshare(2): os.unshare on Python 3.12+, libc through ctypes before."""
    if hasattr(os, "unshare"):
        os.unshare(flags)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(flags) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def die_with_parent(parent: int) -> None:
    """Ask the kernel to SIGKILL this process when PARENT exits, even by SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        # The parent exited before prctl took effect.
        os._exit(1)


def exit_code(status: int) -> int:
    """Turn a wait status into an exit code: killed by signal N gives 128+N."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)


def forward_signals(child: int, kill_on_repeat: bool) -> None:
    """Relay SIGTERM, SIGINT and SIGHUP received by this process to CHILD.

    PID 1 of a PID namespace ignores every signal it has no handler for,
    except SIGKILL, so `sleep` as PID 1 never reacts to SIGTERM (Docker behaves
    the same). With `kill_on_repeat`, a second signal sends SIGKILL instead.
    """
    received = 0

    def relay(number: int, frame: object) -> None:
        nonlocal received
        received += 1
        relayed = signal.SIGKILL if kill_on_repeat and received > 1 else number
        try:
            os.kill(child, relayed)
        except ProcessLookupError:
            pass

    for number in FORWARDED_SIGNALS:
        signal.signal(number, relay)


def exec_in_root(root: str, command_line: list[str]) -> int:
    """Chroot into ROOT and exec the command; return an exit code only on failure."""
    # Python ignores SIGPIPE and SIGXFSZ, and ignored signals stay ignored
    # across exec, so they are reset for the command as a shell would have them.
    for number in (*FORWARDED_SIGNALS, signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(number, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED_SIGNALS)
    try:
        os.chroot(root)
    except PermissionError as error:
        print(
            f"solution: chroot({root}) failed: {error.strerror}; it needs root "
            "(CAP_SYS_CHROOT) or a user namespace",
            file=sys.stderr,
        )
        return 1
    os.chdir("/")

    environment = dict(os.environ)
    environment.setdefault("PATH", DEFAULT_PATH)
    command = command_line[0]
    try:
        # execvpe searches PATH in the new root, because chroot came first.
        os.execvpe(command, command_line, environment)
    except OSError as error:
        if error.errno == errno.ENOENT:
            print(f"solution: {command}: not found in the new root", file=sys.stderr)
        else:
            print(f"solution: {command}: {error.strerror}", file=sys.stderr)
    return 127


def run_command(root: str, command_line: list[str]) -> int:
    """Start the command as PID 1, bound to the intermediate child's life."""
    # The parent lives outside the new PID namespace, so getppid() returns 0.
    die_with_parent(0)
    return exec_in_root(root, command_line)


def run_intermediate(root: str, command_line: list[str], parent: int) -> int:
    """Create the namespaces, start the command as their PID 1 and wait for it."""
    die_with_parent(parent)
    try:
        unshare(NAMESPACE_FLAGS)
    except OSError as error:
        print(
            f"solution: unshare(CLONE_NEWPID | CLONE_NEWUTS) failed: {error.strerror}; "
            "it needs root (CAP_SYS_ADMIN) or a user namespace",
            file=sys.stderr,
        )
        return 1

    child = os.fork()
    if child == 0:
        run_child(lambda: run_command(root, command_line))
    forward_signals(child, kill_on_repeat=True)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED_SIGNALS)
    _, status = os.waitpid(child, 0)
    return exit_code(status)


def run_child(body) -> None:
    """Run BODY in a forked child and exit with its code, or 1 when BODY raises.

    A child that returned into the parent's code would run the parent's
    cleanup too, and remove the root folder while the command still uses it.
    """
    code = 1
    try:
        code = body()
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def run_in_container(root: str, command_line: list[str]) -> int:
    """Run the command in ROOT in new namespaces; return its exit code."""
    # Signals stay blocked until each process has its relay handler, so a
    # SIGTERM that arrives during a fork is delivered late, never lost.
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS)
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    child = os.fork()
    if child == 0:
        run_child(lambda: run_intermediate(root, command_line, parent))
    previous_handlers = {
        number: signal.getsignal(number) for number in FORWARDED_SIGNALS
    }
    forward_signals(child, kill_on_repeat=False)
    signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
    try:
        _, status = os.waitpid(child, 0)
    finally:
        for number, handler in previous_handlers.items():
            signal.signal(number, handler)
    return exit_code(status)


def remove_root(root: str) -> None:
    """Delete the root folder, including read-only folders a layer created."""

    def make_writable_and_retry(function, path, _error) -> None:
        os.chmod(os.path.dirname(path), 0o700)
        function(path)

    try:
        if sys.version_info >= (3, 12):
            shutil.rmtree(root, onexc=make_writable_and_retry)
        else:
            shutil.rmtree(root, onerror=make_writable_and_retry)
    except OSError as error:
        print(f"solution: cannot remove {root}: {error}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run `run IMAGE COMMAND [ARG...]` and return the exit code."""
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    if arguments is None:
        print(USAGE, file=sys.stderr)
        return 2
    image, command_line = arguments

    root = tempfile.mkdtemp(prefix="solution-root-")
    try:
        if not pull(image, root):
            return 1
        copy_command(root, command_line[0])
        make_dev(root)
        return run_in_container(root, command_line)
    finally:
        remove_root(root)
