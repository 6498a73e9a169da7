"""Tests for ProgramRunner, run against real programs: shell scripts and their children."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import time
from pathlib import Path

import pytest

from pytest_stages import ProgramRunner
from pytest_stages.failures import format_run
from pytest_stages.processes import parent_links
from pytest_stages.runner import OUTPUT_LIMIT

# A child that marks itself ready by creating the file named by its second
# argument, then sleeps. Its first argument is a marker to find it in /proc.
SLEEPER = """\
import pathlib, sys, time
pathlib.Path(sys.argv[2]).touch()
time.sleep(300)
"""
WAIT_FOR_READY = "until [ -e {ready} ]; do sleep 0.01; done"

# Ways a child can try to escape a kill of the program's process group, and
# how many processes carry the marker once the sleeper runs.
ESCAPES = {
    # The intermediate shell exits at once, so the sleeper is orphaned, and
    # setsid puts it into a session of its own.
    "double fork into a new session": ("sh -c 'setsid {sleeper} &'", 1),
    "new process group": (
        "python3 -c 'import os, sys; os.setpgid(0, 0); "
        "os.execvp(sys.argv[1], sys.argv[1:])' {sleeper} &",
        1,
    ),
    # unshare stays as the parent of the sleeper, which is PID 1 inside.
    "new PID namespace": ("unshare --pid --fork {sleeper} &", 2),
}


def runner_for(
    script: str, tmp_path: Path, timeout: float = 10, **kwargs
) -> ProgramRunner:
    """Return a runner whose program is the shell SCRIPT, called as ``run IMAGE ...``."""
    return ProgramRunner(
        ["sh", "-c", script, "program"], cwd=tmp_path, timeout=timeout, **kwargs
    )


def processes_with(marker: str) -> list[int]:
    """Return the IDs of the live processes whose command line contains MARKER."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command_line = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in command_line.split(b"\0"):
            found.append(int(entry.name))
    return found


def zombie_children() -> set[int]:
    """Return the exited children of this process that are not reaped yet."""
    me = os.getpid()
    live = parent_links()
    return {
        pid
        for pid, parent in parent_links(zombies=True).items()
        if parent == me and pid not in live
    }


def wait_for_count(marker: str, count: int, timeout: float = 5) -> int:
    """Poll /proc until COUNT processes carry MARKER; return the last count seen."""
    deadline = time.monotonic() + timeout
    found = processes_with(marker)
    while len(found) != count and time.monotonic() < deadline:
        time.sleep(0.02)
        found = processes_with(marker)
    return len(found)


@pytest.fixture
def marker() -> str:
    """A word unique to this test, passed to every sleeper so /proc scans find it."""
    return f"stages-test-{secrets.token_hex(6)}"


def sleeper_command(marker: str, ready: Path) -> str:
    """Write the sleeper next to READY and return the shell command that starts it."""
    script = ready.with_name("sleeper.py")
    script.write_text(SLEEPER)
    return f"python3 {script} {marker} {ready}"


def test_stdout_and_stderr_separate(tmp_path: Path) -> None:
    runner = runner_for("echo out; echo err >&2; echo out2", tmp_path)

    result = runner.run("image", [])

    assert result.stdout == b"out\nout2\n"
    assert result.stderr == b"err\n"
    assert result.returncode == 0


def test_argv_shape(tmp_path: Path) -> None:
    runner = runner_for('printf "%s|" "$@"', tmp_path)

    result = runner.run("ubuntu:latest", ["echo", "two  spaces", ""])

    assert result.stdout == b"run|ubuntu:latest|echo|two  spaces||"
    assert result.argv[-5:] == ("run", "ubuntu:latest", "echo", "two  spaces", "")


def test_runs_in_program_folder(tmp_path: Path) -> None:
    runner = runner_for("pwd", tmp_path)

    result = runner.run("image", [])

    assert result.stdout.decode().strip() == str(tmp_path)


@pytest.mark.parametrize("code", [0, 1, 2, 127, 255])
def test_exit_status(tmp_path: Path, code: int) -> None:
    runner = runner_for(f"exit {code}", tmp_path)

    result = runner.run("image", [])

    assert result.returncode == code
    assert result.exit_status == code
    assert result.describe_end() == f"exit status {code}"


@pytest.mark.parametrize(
    ("signal_name", "number"), [("SEGV", 11), ("KILL", 9), ("TERM", 15)]
)
def test_killed_by_signal(tmp_path: Path, signal_name: str, number: int) -> None:
    runner = runner_for(f"kill -{signal_name} $$", tmp_path)

    result = runner.run("image", [])

    assert result.returncode == -number
    assert result.exit_status == 128 + number
    assert result.describe_end() == f"killed by signal {number}"
    assert not result.timed_out


def test_stdin_is_empty(tmp_path: Path) -> None:
    runner = runner_for("cat; echo done", tmp_path, timeout=5)

    result = runner.run("image", [])

    assert result.stdout == b"done\n"
    assert not result.timed_out


def test_timeout_kills_hanging_program(tmp_path: Path) -> None:
    runner = runner_for("echo started; exec sleep 300", tmp_path, timeout=1)

    started = time.monotonic()
    result = runner.run("image", [])
    elapsed = time.monotonic() - started

    assert result.timed_out
    assert result.returncode is None
    assert result.exit_status is None
    assert result.stdout == b"started\n"
    assert 1 <= elapsed < 5
    assert result.describe_end() == "killed after running longer than 1 s"


@pytest.mark.parametrize("escape", list(ESCAPES))
def test_timeout_kills_escaped_children(
    tmp_path: Path, marker: str, escape: str
) -> None:
    if escape == "new PID namespace" and not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) is not installed")
    ready = tmp_path / "ready"
    template, count = ESCAPES[escape]
    child = template.format(sleeper=sleeper_command(marker, ready))
    script = (
        f"{child}\n{WAIT_FOR_READY.format(ready=ready)}\necho ready\nexec sleep 300"
    )
    counts_while_running = []

    def count_on_ready(stream: str, line: bytes) -> None:
        if line == b"ready":
            counts_while_running.append(wait_for_count(marker, count))

    runner = runner_for(script, tmp_path, timeout=2, on_line=count_on_ready)
    zombies_before = zombie_children()

    result = runner.run("image", [])

    assert result.timed_out
    assert counts_while_running == [count]
    assert processes_with(marker) == []
    assert zombie_children() <= zombies_before


@pytest.mark.parametrize("escape", list(ESCAPES))
def test_leftovers_counted_and_killed(tmp_path: Path, marker: str, escape: str) -> None:
    if escape == "new PID namespace" and not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) is not installed")
    ready = tmp_path / "ready"
    template, _ = ESCAPES[escape]
    child = template.format(sleeper=sleeper_command(marker, ready))
    script = f"{child}\n{WAIT_FOR_READY.format(ready=ready)}\nexit 0"
    runner = runner_for(script, tmp_path, timeout=10)
    zombies_before = zombie_children()

    result = runner.run("image", [])

    assert not result.timed_out
    assert result.returncode == 0
    assert ready.exists()
    assert result.leftover_processes >= 1
    assert processes_with(marker) == []
    assert zombie_children() <= zombies_before
    assert "process(es) it started were still running and were killed" in format_run(
        result
    )


def test_plain_background_child_counted_once(tmp_path: Path, marker: str) -> None:
    ready = tmp_path / "ready"
    script = f"{sleeper_command(marker, ready)} &\n{WAIT_FOR_READY.format(ready=ready)}\nexit 3"
    runner = runner_for(script, tmp_path)

    result = runner.run("image", [])

    assert result.returncode == 3
    assert result.leftover_processes == 1
    assert processes_with(marker) == []


def test_no_leftovers_after_clean_run(tmp_path: Path) -> None:
    runner = runner_for("sleep 0.1 & wait; echo done", tmp_path)

    result = runner.run("image", [])

    assert result.leftover_processes == 0
    assert "still running" not in format_run(result)


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_output_limit_hit(tmp_path: Path, stream: str) -> None:
    redirect = ">&2" if stream == "stderr" else ""
    runner = runner_for(f"exec cat /dev/zero {redirect}", tmp_path, timeout=20)

    result = runner.run("image", [])

    assert result.output_limit_hit
    assert not result.timed_out
    assert result.returncode is None
    assert len(getattr(result, stream)) == OUTPUT_LIMIT
    assert result.describe_end() == "killed after printing more than 1024 KiB"


def test_output_exactly_at_limit(tmp_path: Path) -> None:
    runner = runner_for(f"head -c {OUTPUT_LIMIT} /dev/zero", tmp_path)

    result = runner.run("image", [])

    assert not result.output_limit_hit
    assert result.returncode == 0
    assert len(result.stdout) == OUTPUT_LIMIT


def test_output_one_byte_over_limit(tmp_path: Path) -> None:
    runner = runner_for(f"head -c {OUTPUT_LIMIT + 1} /dev/zero; sleep 300", tmp_path)

    result = runner.run("image", [])

    assert result.output_limit_hit
    assert len(result.stdout) == OUTPUT_LIMIT


def test_invalid_utf8_shown_escaped(tmp_path: Path) -> None:
    runner = runner_for(r"printf 'a\377b\n'; printf '\300\n' >&2", tmp_path)

    result = runner.run("image", [])

    assert result.stdout == b"a\xffb\n"
    assert result.stdout_text == "a\\xffb\n"
    assert result.stderr_text == "\\xc0\n"
    transcript = format_run(result)
    assert "[your_program] a\\xffb" in transcript
    assert "[your_program:stderr] \\xc0" in transcript


def test_lines_reach_callback(tmp_path: Path) -> None:
    lines: list[tuple[str, bytes]] = []
    runner = runner_for(
        "echo one; echo two >&2; printf 'no newline'",
        tmp_path,
        on_line=lambda stream, line: lines.append((stream, line)),
    )

    runner.run("image", [])

    assert ("stdout", b"one") in lines
    assert ("stderr", b"two") in lines
    assert ("stdout", b"no newline") in lines
    assert len(lines) == 3


def test_terminal_run(tmp_path: Path) -> None:
    script = "[ -t 0 ] && [ -t 1 ] && echo on-a-terminal; echo to-stderr >&2; exit 7"
    runner = runner_for(script, tmp_path)

    result = runner.run_in_terminal("image", [])

    assert b"on-a-terminal\r\n" in result.stdout
    assert b"to-stderr\r\n" in result.stdout
    assert result.stderr == b""
    assert result.returncode == 7
    assert result.exit_status == 7


def test_terminal_run_signal(tmp_path: Path) -> None:
    runner = runner_for("kill -SEGV $$", tmp_path)

    result = runner.run_in_terminal("image", [])

    assert result.returncode == -11
    assert result.exit_status == 139


def test_terminal_run_timeout(tmp_path: Path, marker: str) -> None:
    ready = tmp_path / "ready"
    script = (
        f"setsid {sleeper_command(marker, ready)} &\n"
        f"{WAIT_FOR_READY.format(ready=ready)}\nexec sleep 300"
    )
    runner = runner_for(script, tmp_path, timeout=2)

    result = runner.run_in_terminal("image", [])

    assert result.timed_out
    assert result.returncode is None
    assert ready.exists()
    assert processes_with(marker) == []


def test_not_a_terminal_by_default(tmp_path: Path) -> None:
    runner = runner_for("[ -t 1 ] && echo terminal || echo pipe", tmp_path)

    result = runner.run("image", [])

    assert result.stdout == b"pipe\n"


def test_runner_is_subreaper(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("only Linux has child subreapers")
    runner = runner_for("sh -c 'sleep 1 &'; exit 0", tmp_path)

    result = runner.run("image", [])

    # The orphaned sleep was re-parented to this process, found and killed.
    assert result.leftover_processes == 1
