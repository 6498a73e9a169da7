"""Tests for the explorer binary and its cached build, run as real processes."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_stages.explorer import EXPLORER_SOURCE, ExplorerBuildError, build_explorer

TIMEOUT = 30  # seconds for any single explorer run


@pytest.fixture(scope="module")
def explorer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The explorer, compiled once for this module into a temporary cache."""
    return build_explorer(tmp_path_factory.mktemp("explorer-cache"))


@pytest.fixture(scope="module")
def tools(explorer: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of symlinks to the explorer named sh, ls, cat, echo and
    docker-explorer, to use as PATH."""
    folder = tmp_path_factory.mktemp("tools")
    for name in ("sh", "ls", "cat", "echo", "docker-explorer", "anything-else"):
        (folder / name).symlink_to(explorer)
    return folder


def run(
    program: Path | str, *args: str, **kwargs
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(program), *args], capture_output=True, timeout=TIMEOUT, **kwargs
    )


def shell(tools: Path, script: str, **kwargs) -> subprocess.CompletedProcess[bytes]:
    """Run SCRIPT with the explorer's sh, with only the tools folder on PATH."""
    env = {"PATH": str(tools)}
    return run(tools / "sh", "-c", script, env=env, **kwargs)


# --- docker-explorer subcommands ---------------------------------------------


def test_echo_joins_arguments(explorer: Path) -> None:
    result = run(explorer, "echo", "hello", "two  spaces", "")

    assert result.stdout == b"hello two  spaces \n"
    assert result.stderr == b""
    assert result.returncode == 0


def test_echo_without_arguments(explorer: Path) -> None:
    result = run(explorer, "echo")

    assert result.stdout == b"\n"
    assert result.returncode == 0


def test_echo_stderr(explorer: Path) -> None:
    result = run(explorer, "echo_stderr", "to", "stderr")

    assert result.stdout == b""
    assert result.stderr == b"to stderr\n"
    assert result.returncode == 0


@pytest.mark.parametrize("code", [0, 1, 3, 127, 255])
def test_exit_codes(explorer: Path, code: int) -> None:
    result = run(explorer, "exit", str(code))

    assert result.returncode == code
    assert result.stdout == b""
    assert result.stderr == b""


@pytest.mark.parametrize("bad", ["256", "-1", "x", "3x", ""])
def test_exit_rejects_invalid_code(explorer: Path, bad: str) -> None:
    result = run(explorer, "exit", bad)

    assert result.returncode == 2
    assert b"usage: docker-explorer exit N" in result.stderr


def test_exit_without_code_is_usage_error(explorer: Path) -> None:
    result = run(explorer, "exit")

    assert result.returncode == 2
    assert result.stderr == b"usage: docker-explorer exit N\n"


def test_mypid_prints_process_id(explorer: Path) -> None:
    process = subprocess.Popen(
        [str(explorer), "mypid"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    stdout, stderr = process.communicate(timeout=TIMEOUT)

    assert stdout == f"{process.pid}\n".encode()
    assert stderr == b""
    assert process.returncode == 0


def test_ls_sorts_bytewise(explorer: Path, tmp_path: Path) -> None:
    for name in ("b", "B", "a", "_x", ".hidden", "\u00e9"):
        (tmp_path / name).touch()
    (tmp_path / "dir").mkdir()

    result = run(explorer, "ls", str(tmp_path))

    expected = sorted([b".hidden", b"B", b"_x", b"a", b"b", b"dir", "\u00e9".encode()])
    assert result.stdout.splitlines() == expected
    assert result.stderr == b""
    assert result.returncode == 0


def test_ls_empty_directory(explorer: Path, tmp_path: Path) -> None:
    result = run(explorer, "ls", str(tmp_path))

    assert result.stdout == b""
    assert result.returncode == 0


def test_ls_defaults_to_current_directory(explorer: Path, tmp_path: Path) -> None:
    (tmp_path / "here").touch()

    result = run(explorer, "ls", cwd=tmp_path)

    assert result.stdout == b"here\n"
    assert result.returncode == 0


def test_ls_missing_directory(explorer: Path, tmp_path: Path) -> None:
    result = run(explorer, "ls", str(tmp_path / "missing"))

    assert result.stdout == b"No such file or directory\n"
    assert result.stderr == b""
    assert result.returncode == 2


def test_ls_on_file_fails_on_stderr(explorer: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")

    result = run(explorer, "ls", str(tmp_path / "file"))

    assert result.stdout == b""
    assert b"Not a directory" in result.stderr
    assert result.returncode == 2


def test_cat_copies_files(explorer: Path, tmp_path: Path) -> None:
    (tmp_path / "one").write_bytes(b"first\n")
    (tmp_path / "two").write_bytes(b"\x00binary without newline")

    result = run(explorer, "cat", str(tmp_path / "one"), str(tmp_path / "two"))

    assert result.stdout == b"first\n\x00binary without newline"
    assert result.stderr == b""
    assert result.returncode == 0


def test_cat_missing_file(explorer: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing"

    result = run(explorer, "cat", str(missing))

    assert result.stdout == b""
    assert result.stderr == f"cat: {missing}: No such file or directory\n".encode()
    assert result.returncode == 1


def test_cat_continues_after_missing_file(explorer: Path, tmp_path: Path) -> None:
    (tmp_path / "there").write_bytes(b"there\n")

    result = run(explorer, "cat", str(tmp_path / "gone"), str(tmp_path / "there"))

    assert result.stdout == b"there\n"
    assert result.returncode == 1


def test_touch_creates_file(explorer: Path, tmp_path: Path) -> None:
    path = tmp_path / "new"

    result = run(explorer, "touch", str(path))

    assert result.returncode == 0
    assert result.stderr == b""
    assert path.is_file()
    assert path.read_bytes() == b""


def test_touch_updates_mtime(explorer: Path, tmp_path: Path) -> None:
    path = tmp_path / "old"
    path.write_text("keep")
    os.utime(path, (1_000_000, 1_000_000))

    result = run(explorer, "touch", str(path))

    assert result.returncode == 0
    assert path.stat().st_mtime > time.time() - 60
    assert path.read_text() == "keep"


def test_touch_in_missing_directory(explorer: Path, tmp_path: Path) -> None:
    path = tmp_path / "missing" / "file"

    result = run(explorer, "touch", str(path))

    assert result.returncode == 1
    expected = f"touch: cannot touch '{path}': No such file or directory\n"
    assert result.stderr == expected.encode()


def test_write_creates_and_truncates(explorer: Path, tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_text("a much longer old content")

    result = run(explorer, "write", str(path), "new text")

    assert result.returncode == 0
    assert result.stdout == b""
    assert path.read_bytes() == b"new text"


def test_write_in_missing_directory(explorer: Path, tmp_path: Path) -> None:
    path = tmp_path / "missing" / "file"

    result = run(explorer, "write", str(path), "text")

    assert result.returncode == 1
    assert result.stderr == f"write: {path}: No such file or directory\n".encode()


def test_lines_arrive_complete(explorer: Path) -> None:
    count = 200_000

    started = time.monotonic()
    result = run(explorer, "lines", "row", str(count))
    elapsed = time.monotonic() - started

    lines = result.stdout.split(b"\n")
    assert result.returncode == 0
    assert lines[-1] == b""
    assert len(lines) == count + 1
    assert lines[0] == b"row-1"
    assert lines[count - 1] == f"row-{count}".encode()
    assert lines[:-1] == [f"row-{i}".encode() for i in range(1, count + 1)]
    # About 0.01 s measured on a 2-core Debian 12 VM, so the bound only
    # catches unbuffered or per-line writes.
    assert elapsed < 10


def test_lines_zero(explorer: Path) -> None:
    result = run(explorer, "lines", "x", "0")

    assert result.stdout == b""
    assert result.returncode == 0


def test_lines_exits_silently_on_closed_pipe(explorer: Path) -> None:
    # restore_signals=False keeps Python's ignored SIGPIPE in the child,
    # so the write fails with EPIPE instead of killing the explorer.
    process = subprocess.Popen(
        [str(explorer), "lines", "x", "10000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        restore_signals=False,
    )
    assert process.stdout is not None
    assert process.stdout.read(10) == b"x-1\nx-2\nx-"
    process.stdout.close()
    returncode = process.wait(timeout=TIMEOUT)
    stderr = process.stderr.read() if process.stderr else b""

    assert returncode == 1
    assert stderr == b""


def test_lines_killed_by_sigpipe_by_default(explorer: Path) -> None:
    process = subprocess.Popen(
        [str(explorer), "lines", "x", "10000000"], stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    process.stdout.read(10)
    process.stdout.close()

    assert process.wait(timeout=TIMEOUT) == -signal.SIGPIPE


def test_sleep_waits(explorer: Path) -> None:
    started = time.monotonic()
    result = run(explorer, "sleep", "0.3")

    assert time.monotonic() - started >= 0.3
    assert result.returncode == 0
    assert result.stdout == b""


def test_sleep_rejects_invalid_seconds(explorer: Path) -> None:
    for bad in ("-1", "abc", "nan", "inf"):
        result = run(explorer, "sleep", bad)

        assert result.returncode == 2, bad
        assert b"usage: docker-explorer sleep SECONDS" in result.stderr, bad


def test_sleep_then_echo(explorer: Path) -> None:
    started = time.monotonic()
    result = run(explorer, "sleep_then_echo", "0.2", "late", "output")

    assert time.monotonic() - started >= 0.2
    assert result.stdout == b"late output\n"
    assert result.returncode == 0


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("TERM", signal.SIGTERM),
        ("KILL", signal.SIGKILL),
        ("SIGSEGV", signal.SIGSEGV),
        ("int", signal.SIGINT),
        ("HUP", signal.SIGHUP),
        ("ABRT", signal.SIGABRT),
        ("15", signal.SIGTERM),
    ],
)
def test_kill_self(explorer: Path, name: str, number: int) -> None:
    result = run(explorer, "kill_self", name)

    assert result.returncode == -number
    assert result.stderr == b""


def test_kill_self_with_ignored_default(explorer: Path) -> None:
    # SIGCHLD's default action ignores it, so the process survives and reports it.
    result = run(explorer, "kill_self", "CHLD")

    assert result.returncode == 1
    assert b"still running after signal" in result.stderr


def test_kill_self_rejects_unknown_signal(explorer: Path) -> None:
    result = run(explorer, "kill_self", "NOPE")

    assert result.returncode == 2
    assert b"usage: docker-explorer kill_self SIGNAL" in result.stderr


def test_segfault_dies_of_sigsegv(explorer: Path) -> None:
    result = run(explorer, "segfault")

    assert result.returncode == -signal.SIGSEGV


def test_segfault_kills_pid_1(explorer: Path) -> None:
    # A raised signal cannot kill PID 1 of a PID namespace, but a fault can.
    command = ["unshare", "--pid", "--fork", "--kill-child", str(explorer)]
    result = subprocess.run([*command, "segfault"], capture_output=True)

    assert result.returncode in (-signal.SIGSEGV, 128 + signal.SIGSEGV)


def test_pid_exists_for_running_process(explorer: Path) -> None:
    result = run(explorer, "pid_exists", str(os.getpid()))

    assert result.stdout == b"exists\n"
    assert result.returncode == 0


def test_pid_exists_for_missing_process(explorer: Path) -> None:
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())

    # No process can have a PID above pid_max.
    result = run(explorer, "pid_exists", str(pid_max + 1))

    assert result.stdout == b"no such process\n"
    assert result.returncode == 1


def test_hostname(explorer: Path) -> None:
    result = run(explorer, "hostname")

    assert result.stdout == f"{os.uname().nodename}\n".encode()
    assert result.returncode == 0


def _unshare_uts_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--uts", "true"], capture_output=True, timeout=TIMEOUT
    )
    return probe.returncode == 0


needs_uts_namespace = pytest.mark.skipif(
    not _unshare_uts_works(), reason="cannot create a UTS namespace with unshare"
)


@needs_uts_namespace
def test_sethostname_in_new_uts_namespace(tools: Path) -> None:
    # unshare gives the explorer's sh its own UTS namespace, so the host's
    # name stays unchanged.
    script = "docker-explorer sethostname explorer-test && docker-explorer hostname"

    unshare = shutil.which("unshare") or "unshare"
    result = run(unshare, "--uts", tools / "sh", "-c", script, env={"PATH": str(tools)})

    assert result.stdout == b"explorer-test\n"
    assert result.stderr == b""
    assert result.returncode == 0
    assert os.uname().nodename != "explorer-test"


@needs_uts_namespace
def test_sethostname_reports_strerror(explorer: Path) -> None:
    too_long = "x" * 100  # the kernel limit is 64 bytes

    result = run("unshare", "--uts", explorer, "sethostname", too_long)

    assert result.returncode == 1
    expected = f"sethostname: {os.strerror(errno.EINVAL)}\n"
    assert result.stderr == expected.encode()


def test_readlink(explorer: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to("some/target")

    result = run(explorer, "readlink", str(link))

    assert result.stdout == b"some/target\n"
    assert result.returncode == 0


def test_readlink_long_target(explorer: Path, tmp_path: Path) -> None:
    target = "d/" * 300 + "end"
    link = tmp_path / "link"
    link.symlink_to(target)

    result = run(explorer, "readlink", str(link))

    assert result.stdout == f"{target}\n".encode()


def test_readlink_on_regular_file(explorer: Path, tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.touch()

    result = run(explorer, "readlink", str(path))

    assert result.stdout == b""
    assert result.stderr == f"readlink: {path}: Invalid argument\n".encode()
    assert result.returncode == 1


def test_same_file(explorer: Path, tmp_path: Path) -> None:
    original = tmp_path / "original"
    original.write_text("x")
    (tmp_path / "hard").hardlink_to(original)
    (tmp_path / "other").write_text("x")

    same = run(explorer, "same_file", str(original), str(tmp_path / "hard"))
    different = run(explorer, "same_file", str(original), str(tmp_path / "other"))

    assert same.stdout == b"same\n"
    assert same.returncode == 0
    assert different.stdout == b"different\n"
    assert different.returncode == 1


def test_same_file_missing(explorer: Path, tmp_path: Path) -> None:
    result = run(explorer, "same_file", str(tmp_path), str(tmp_path / "gone"))

    assert result.returncode == 2
    assert b"No such file or directory" in result.stderr


def test_uid(explorer: Path) -> None:
    result = run(explorer, "uid")

    assert result.stdout == f"{os.getuid()}\n".encode()
    assert result.returncode == 0


def test_help_lists_subcommands(explorer: Path) -> None:
    result = run(explorer, "help")

    listed = {line.split()[0] for line in result.stdout.splitlines()[3:]}
    assert result.returncode == 0
    assert listed == {
        b"echo",
        b"echo_stderr",
        b"exit",
        b"mypid",
        b"ls",
        b"cat",
        b"touch",
        b"write",
        b"lines",
        b"sleep",
        b"sleep_then_echo",
        b"kill_self",
        b"pid_exists",
        b"hostname",
        b"sethostname",
        b"readlink",
        b"same_file",
        b"uid",
        b"segfault",
        b"help",
    }


def test_unknown_subcommand(explorer: Path) -> None:
    result = run(explorer, "frobnicate")

    assert result.returncode == 2
    assert result.stdout == b""
    assert b"unknown subcommand 'frobnicate'" in result.stderr
    assert b"usage: docker-explorer SUBCOMMAND" in result.stderr


def test_no_subcommand(explorer: Path) -> None:
    result = run(explorer)

    assert result.returncode == 2
    assert result.stderr.startswith(b"usage: docker-explorer SUBCOMMAND")


def test_extra_arguments_are_usage_error(explorer: Path) -> None:
    result = run(explorer, "mypid", "extra")

    assert result.returncode == 2
    assert result.stderr == b"usage: docker-explorer mypid\n"


# --- multi-call names --------------------------------------------------------


def test_multicall_echo(tools: Path) -> None:
    result = run(tools / "echo", "a", "b")

    assert result.stdout == b"a b\n"
    assert result.returncode == 0


def test_multicall_ls(tools: Path, tmp_path: Path) -> None:
    (tmp_path / "z").touch()
    (tmp_path / "y").touch()

    listing = run(tools / "ls", str(tmp_path))
    missing = run(tools / "ls", str(tmp_path / "missing"))

    assert listing.stdout == b"y\nz\n"
    assert listing.returncode == 0
    assert missing.stdout == b"No such file or directory\n"
    assert missing.returncode == 2


def test_multicall_ls_rejects_options(tools: Path) -> None:
    result = run(tools / "ls", "-l")

    assert result.returncode == 2
    assert b"usage: ls" in result.stderr


def test_multicall_cat(tools: Path, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"content")

    from_file = run(tools / "cat", str(tmp_path / "f"))
    from_stdin = run(tools / "cat", input=b"piped")
    missing = run(tools / "cat", str(tmp_path / "nope"))

    assert from_file.stdout == b"content"
    assert from_stdin.stdout == b"piped"
    assert (
        missing.stderr
        == f"cat: {tmp_path / 'nope'}: No such file or directory\n".encode()
    )
    assert missing.returncode == 1


def test_other_names_act_as_docker_explorer(tools: Path) -> None:
    result = run(tools / "anything-else", "echo", "hi")

    assert result.stdout == b"hi\n"


# --- the shell ---------------------------------------------------------------


def test_sh_quotes_and_escapes(tools: Path) -> None:
    script = r"""echo 'a  b' "c \"d\" \$ \\ \x" e\ f '' g"h"'i'"""

    result = shell(tools, script)

    assert result.stdout == b'a  b c "d" $ \\ \\x e f  ghi\n'
    assert result.stderr == b""
    assert result.returncode == 0


def test_sh_empty_quoted_argument(tools: Path) -> None:
    result = shell(tools, "docker-explorer echo '' x")

    assert result.stdout == b" x\n"


def test_sh_sequence(tools: Path) -> None:
    result = shell(tools, "echo one; echo two;echo three;")

    assert result.stdout == b"one\ntwo\nthree\n"
    assert result.returncode == 0


def test_sh_newlines_and_comments(tools: Path) -> None:
    result = shell(tools, "echo one # not printed\n\n  echo two\n")

    assert result.stdout == b"one\ntwo\n"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("docker-explorer exit 0 && echo yes", b"yes\n"),
        ("docker-explorer exit 1 && echo no", b""),
        ("docker-explorer exit 1 || echo yes", b"yes\n"),
        ("docker-explorer exit 0 || echo no", b""),
        ("docker-explorer exit 3 && echo no || echo fallback", b"fallback\n"),
        ("docker-explorer exit 0 || echo no && echo yes", b"yes\n"),
        ("docker-explorer exit 1 && echo no; echo always", b"always\n"),
    ],
)
def test_sh_and_or(tools: Path, script: str, expected: bytes) -> None:
    result = shell(tools, script)

    assert result.stdout == expected
    assert result.stderr == b""


def test_sh_status_of_last_command(tools: Path) -> None:
    assert shell(tools, "docker-explorer exit 7").returncode == 7
    assert shell(tools, "echo a; docker-explorer exit 4").returncode == 4
    assert shell(tools, "docker-explorer exit 4; echo a").returncode == 0
    # A skipped command leaves the status of the one before it.
    assert shell(tools, "docker-explorer exit 5 && echo no").returncode == 5


def test_sh_exit_builtin(tools: Path) -> None:
    result = shell(tools, "echo before; exit 6; echo after")

    assert result.stdout == b"before\n"
    assert result.returncode == 6


def test_sh_exit_without_number_keeps_status(tools: Path) -> None:
    result = shell(tools, "docker-explorer exit 9 || exit")

    assert result.returncode == 9


def test_sh_command_not_found(tools: Path) -> None:
    result = shell(tools, "no-such-command arg")

    assert result.returncode == 127
    assert result.stderr == b"sh: no-such-command: not found\n"


def test_sh_missing_path_not_found(tools: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing"

    result = shell(tools, str(missing))

    assert result.returncode == 127
    assert result.stderr == f"sh: {missing}: not found\n".encode()


def test_sh_not_executable(tools: Path, tmp_path: Path) -> None:
    path = tmp_path / "plain"
    path.write_text("data")

    result = shell(tools, str(path))

    assert result.returncode == 126
    assert result.stderr == f"sh: {path}: Permission denied\n".encode()


@pytest.mark.parametrize(
    ("name", "number"), [("TERM", signal.SIGTERM), ("KILL", signal.SIGKILL)]
)
def test_sh_killed_child(tools: Path, name: str, number: int) -> None:
    result = shell(tools, f"docker-explorer kill_self {name}")

    assert result.returncode == 128 + number


def test_sh_waits_for_child(tools: Path) -> None:
    result = shell(tools, "docker-explorer sleep_then_echo 0.2 late; echo after")

    assert result.stdout == b"late\nafter\n"


def test_sh_flushes_builtin_output_before_fork(tools: Path) -> None:
    result = shell(tools, "echo first; docker-explorer echo second; echo third")

    assert result.stdout == b"first\nsecond\nthird\n"


def test_sh_cd(tools: Path, tmp_path: Path) -> None:
    (tmp_path / "inside").touch()

    result = shell(tools, f"cd '{tmp_path}' && ls")

    assert result.stdout == b"inside\n"
    assert result.returncode == 0


def test_sh_cd_missing_directory(tools: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing"

    result = shell(tools, f"cd {missing} || echo failed")

    assert result.stdout == b"failed\n"
    assert result.stderr == f"sh: cd: {missing}: No such file or directory\n".encode()


def test_sh_default_path(tools: Path) -> None:
    # Without PATH the shell searches /bin:/usr/bin:... where `true` lives.
    assert Path("/bin/true").exists() or Path("/usr/bin/true").exists()

    result = run(tools / "sh", "-c", "true && echo found", env={})

    assert result.stdout == b"found\n"
    assert result.returncode == 0


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("echo 'open", b"sh: syntax error: unterminated quoted string\n"),
        ('echo "open', b"sh: syntax error: unterminated quoted string\n"),
        ("; echo a", b"sh: syntax error: unexpected ';'\n"),
        ("echo a && && echo b", b"sh: syntax error: unexpected '&&'\n"),
        ("|| echo b", b"sh: syntax error: unexpected '||'\n"),
        ("echo a &&", b"sh: syntax error: unexpected end of input"),
        ("echo a | cat", b"sh: unsupported syntax '|'"),
        ("echo a > file", b"sh: unsupported syntax '>'"),
        ("echo $HOME", b"sh: unsupported syntax '$'"),
        ("sleep 1 &", b"sh: unsupported syntax '&'"),
    ],
)
def test_sh_rejects_syntax(tools: Path, script: str, message: bytes) -> None:
    result = shell(tools, f"echo ran; {script}")

    assert result.returncode == 2
    assert result.stdout == b""  # nothing runs when the script fails to parse
    assert result.stderr.startswith(message)


def test_sh_requires_dash_c(tools: Path) -> None:
    result = run(tools / "sh")

    assert result.returncode == 2
    assert b"usage: sh -c COMMAND" in result.stderr


# --- the binary --------------------------------------------------------------


def _has_program_interpreter(binary: Path) -> bool:
    """Return whether the ELF file has a PT_INTERP header, as dynamic ones do."""
    data = binary.read_bytes()
    assert data[:4] == b"\x7fELF"
    is_64_bit = data[4] == 2
    order = "<" if data[5] == 1 else ">"
    if is_64_bit:
        (phoff,) = struct.unpack_from(order + "Q", data, 0x20)
        phentsize, phnum = struct.unpack_from(order + "HH", data, 0x36)
    else:
        (phoff,) = struct.unpack_from(order + "I", data, 0x1C)
        phentsize, phnum = struct.unpack_from(order + "HH", data, 0x2A)
    pt_interp = 3
    types = [
        struct.unpack_from(order + "I", data, phoff + i * phentsize)[0]
        for i in range(phnum)
    ]
    return pt_interp in types


def test_binary_is_static(explorer: Path) -> None:
    assert not _has_program_interpreter(explorer)


def test_interpreter_check_detects_dynamic_binary() -> None:
    # The check above must be able to fail: the Python binary is dynamic.
    assert _has_program_interpreter(Path(os.path.realpath(sys.executable)))


def test_binary_is_executable(explorer: Path) -> None:
    assert explorer.stat().st_mode & stat.S_IXUSR
    assert explorer.name.startswith("docker-explorer-")
    assert len(explorer.name) == len("docker-explorer-") + 16


# --- build_explorer -----------------------------------------------------------


def test_cache_is_reused(explorer: Path) -> None:
    mtime = explorer.stat().st_mtime_ns

    again = build_explorer(explorer.parent)

    assert again == explorer
    assert again.stat().st_mtime_ns == mtime
    assert [p.name for p in explorer.parent.iterdir()] == [explorer.name]


def test_cache_dir_from_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PYTEST_STAGES_CACHE", str(tmp_path / "env-cache"))

    built = build_explorer()

    assert built.parent == tmp_path / "env-cache"


def test_cache_dir_from_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PYTEST_STAGES_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))

    built = build_explorer()

    assert built.parent == tmp_path / "xdg" / "pytest-stages"


def test_cache_dir_from_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PYTEST_STAGES_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))

    built = build_explorer()

    assert built.parent == tmp_path / ".cache" / "pytest-stages"


def test_concurrent_builds(tmp_path: Path) -> None:
    cache = tmp_path / "shared-cache"
    code = (
        "import sys; from pathlib import Path;"
        "from pytest_stages.explorer import build_explorer;"
        "print(build_explorer(Path(sys.argv[1])))"
    )
    repository = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repository)}

    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(cache)],
            stdout=subprocess.PIPE,
            env=env,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in processes]

    assert [p.returncode for p in processes] == [0, 0, 0]
    assert len(set(outputs)) == 1
    assert [p.name for p in cache.iterdir()] == [Path(outputs[0].decode().strip()).name]


def test_source_constant_points_at_c_file() -> None:
    assert EXPLORER_SOURCE.name == "explorer.c"
    assert EXPLORER_SOURCE.is_file()


def test_missing_compiler(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CC", "/nonexistent")
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(ExplorerBuildError) as caught:
        build_explorer(tmp_path / "cache")

    message = str(caught.value)
    assert "/nonexistent" in message
    assert "sudo apt-get install gcc libc6-dev" in message
    assert "sudo dnf install gcc glibc-static" in message


def test_no_compiler_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(ExplorerBuildError) as caught:
        build_explorer(tmp_path / "cache")

    message = str(caught.value)
    assert "No C compiler found" in message
    assert "apt-get" in message
    assert "dnf" in message


def _fake_compiler(folder: Path, build_step: str) -> Path:
    """Write a compiler script that prints a version and runs BUILD_STEP."""
    script = folder / "fake-cc"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = --version ]; then echo "fake-cc 1.0"; exit 0; fi\n'
        f"{build_step}\n"
    )
    script.chmod(0o755)
    return script


def test_static_link_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = _fake_compiler(
        tmp_path,
        "echo '/usr/bin/ld: cannot find -lc: No such file or directory' >&2\n"
        "echo 'collect2: error: ld returned 1 exit status' >&2\n"
        "exit 1",
    )
    monkeypatch.setenv("CC", str(fake))

    with pytest.raises(ExplorerBuildError) as caught:
        build_explorer(tmp_path / "cache")

    message = str(caught.value)
    assert "could not link the explorer statically" in message
    assert "libc.a" in message
    assert "libc6-dev" in message
    assert "glibc-static" in message
    assert "cannot find -lc" in message
    assert list((tmp_path / "cache").iterdir()) == []


def test_other_compile_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = _fake_compiler(tmp_path, "echo 'explorer.c:1: error: oops' >&2; exit 1")
    monkeypatch.setenv("CC", str(fake))

    with pytest.raises(ExplorerBuildError) as caught:
        build_explorer(tmp_path / "cache")

    message = str(caught.value)
    assert "Compiling the explorer failed" in message
    assert "explorer.c:1: error: oops" in message
    assert "apt-get" in message


def test_broken_output_is_not_cached(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # This compiler "succeeds" but writes a program that prints nothing.
    fake = _fake_compiler(
        tmp_path,
        'while [ "$1" != -o ]; do shift; done\nprintf "#!/bin/sh\\nexit 0\\n" > "$2"',
    )
    monkeypatch.setenv("CC", str(fake))

    with pytest.raises(ExplorerBuildError) as caught:
        build_explorer(tmp_path / "cache")

    assert "does not work" in str(caught.value)
    assert list((tmp_path / "cache").iterdir()) == []


def test_unwritable_cache_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")

    with pytest.raises(ExplorerBuildError) as caught:
        build_explorer(blocker / "cache")

    message = str(caught.value)
    assert str(blocker / "cache") in message
    assert "PYTEST_STAGES_CACHE" in message


def test_prebuilt_explorer_used_without_compiler(
    explorer: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_STAGES_EXPLORER", str(explorer))
    monkeypatch.setenv("CC", "/nonexistent/cc")

    assert build_explorer() == explorer


def test_prebuilt_explorer_must_be_executable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_executable = tmp_path / "docker-explorer"
    not_executable.write_text("")
    monkeypatch.setenv("PYTEST_STAGES_EXPLORER", str(not_executable))

    with pytest.raises(ExplorerBuildError, match="is not an executable file"):
        build_explorer()
