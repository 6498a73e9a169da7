"""The reference solution run as a program, offline, with busybox as the command.

Every run happens inside `unshare --net`, a network namespace with only a loopback
that is down, so the pull of `alpine` fails at name resolution and the solution
runs the command in an empty root. busybox-static is copied into that root
because the command is an absolute path that the root lacks.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
BUSYBOX = "/bin/busybox"
TIMEOUT = 30  # seconds for one run of the solution

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and chroot need root"),
    pytest.mark.skipif(not os.path.exists(BUSYBOX), reason="needs busybox-static"),
    pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)"),
]


def solution_command(*command: str, prefix: tuple[str, ...] = ()) -> list[str]:
    return [
        "unshare",
        "--net",
        *prefix,
        sys.executable,
        "-m",
        "solution",
        "run",
        "alpine",
        *command,
    ]


def solution_environment(temporary: Path) -> dict[str, str]:
    environment = dict(os.environ, TMPDIR=str(temporary), PYTHONPATH=str(REPOSITORY))
    for proxy in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        environment[proxy] = ""
    return environment


@pytest.fixture
def temporary(tmp_path: Path) -> Path:
    """An empty TMPDIR for the solution, to check that it removes its root."""
    path = tmp_path / "solution-tmp"
    path.mkdir(mode=0o777)
    path.chmod(0o777)
    return path


def run_solution(temporary: Path, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        solution_command(*command),
        cwd=REPOSITORY,
        env=solution_environment(temporary),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def start_solution(temporary: Path, *command: str) -> subprocess.Popen:
    return subprocess.Popen(
        solution_command(*command),
        cwd=REPOSITORY,
        env=solution_environment(temporary),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def find_process(arguments: list[str], timeout: float = 10) -> int:
    """Return the host PID of the process with exactly these arguments."""
    wanted = "\0".join(arguments).encode() + b"\0"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cmdline = Path("/proc", entry, "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline == wanted:
                return int(entry)
        time.sleep(0.05)
    raise AssertionError(f"no process runs {arguments}")


def test_stdout_and_stderr_separate(temporary: Path) -> None:
    result = run_solution(
        temporary, BUSYBOX, "sh", "-c", "echo to-out; echo to-err >&2; echo more-out"
    )

    assert result.returncode == 0
    assert result.stdout == "to-out\nmore-out\n"
    assert "to-err\n" in result.stderr
    assert "to-err" not in result.stdout


@pytest.mark.parametrize("code", [0, 3, 255])
def test_exit_code_passed_through(temporary: Path, code: int) -> None:
    result = run_solution(temporary, BUSYBOX, "sh", "-c", f"exit {code}")

    assert result.returncode == code
    assert result.stdout == ""


def test_killed_command_gives_128_plus_signal(temporary: Path) -> None:
    process = start_solution(temporary, BUSYBOX, "sleep", "4321")
    try:
        os.kill(find_process([BUSYBOX, "sleep", "4321"]), signal.SIGKILL)
        process.wait(timeout=TIMEOUT)
    finally:
        process.kill()
        stdout, _ = process.communicate()

    assert process.returncode == 128 + signal.SIGKILL
    assert stdout == ""
    assert os.listdir(temporary) == []


def test_sigterm_forwarded_to_command(temporary: Path) -> None:
    script = (
        'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.1; done'
    )
    process = start_solution(temporary, BUSYBOX, "sh", "-c", script)
    try:
        assert process.stdout.readline() == "ready\n"
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=TIMEOUT)
    finally:
        process.kill()
        stdout, _ = process.communicate()

    assert process.returncode == 7
    assert stdout == "got-term\n"


def test_command_is_pid_1(temporary: Path) -> None:
    result = run_solution(temporary, BUSYBOX, "sh", "-c", "echo $$")

    assert result.stdout == "1\n"


def test_hostname_change_stays_inside(temporary: Path) -> None:
    before = os.uname().nodename

    result = run_solution(
        temporary, BUSYBOX, "sh", "-c", "hostname inside-only && hostname"
    )

    assert result.stdout == "inside-only\n"
    assert os.uname().nodename == before


def test_host_files_hidden(temporary: Path, tmp_path: Path) -> None:
    secret = tmp_path / "host-secret"
    secret.write_text("host-only content")

    result = run_solution(temporary, BUSYBOX, "cat", str(secret))
    listing = run_solution(temporary, BUSYBOX, "ls", "/")

    assert result.returncode != 0
    assert "host-only content" not in result.stdout
    assert listing.stdout.split() == ["bin", "dev"]


def test_temporary_root_removed(temporary: Path) -> None:
    result = run_solution(temporary, BUSYBOX, "sh", "-c", "exit 3")

    assert result.returncode == 3
    assert os.listdir(temporary) == []


def test_unreachable_registry_reported_on_stderr(temporary: Path) -> None:
    result = run_solution(temporary, BUSYBOX, "true")

    assert result.returncode == 0
    assert result.stdout == ""
    assert "image alpine not pulled" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_missing_command_exits_127(temporary: Path) -> None:
    result = run_solution(temporary, "/no/such/program")

    assert result.returncode == 127
    assert "/no/such/program: not found in the new root" in result.stderr
    assert os.listdir(temporary) == []


def test_bad_usage_exits_2(temporary: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "solution", "run", "alpine"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("usage: ")


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv(1)")
@pytest.mark.parametrize(
    ("capability", "failed_call"),
    [
        ("sys_admin", "unshare(CLONE_NEWPID | CLONE_NEWUTS) failed"),
        ("sys_chroot", "chroot("),
    ],
)
def test_missing_privilege_explained(
    temporary: Path, capability: str, failed_call: str
) -> None:
    drop_capability = ("setpriv", "--bounding-set", f"-{capability}")
    result = subprocess.run(
        solution_command(BUSYBOX, "true", prefix=drop_capability),
        cwd=REPOSITORY,
        env=solution_environment(temporary),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )

    assert result.returncode == 1
    assert failed_call in result.stderr
    assert "needs root" in result.stderr
    assert os.listdir(temporary) == []
