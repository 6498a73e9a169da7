"""Run the student's program once and capture what it did."""

from __future__ import annotations

import os
import selectors
import shlex
import subprocess
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pexpect

from pytest_stages import processes

DEFAULT_TIMEOUT = 10.0
OUTPUT_LIMIT = 1024 * 1024  # bytes per stream
_READ_SIZE = 65536

LineCallback = Callable[[str, bytes], None]
"""Called with the stream name (``"stdout"`` or ``"stderr"``) and one line."""


@dataclass(frozen=True)
class RunResult:
    """The outcome of one run of the program: its output and how it ended."""

    argv: tuple[str, ...]
    stdout: bytes
    stderr: bytes
    returncode: int | None
    """As ``subprocess`` reports it: negative when a signal killed the program,
    ``None`` when it was killed for running too long or printing too much."""
    duration: float
    timed_out: bool = False
    output_limit_hit: bool = False
    leftover_processes: int = 0
    """Processes the program started that were still running after it exited."""
    timeout: float = DEFAULT_TIMEOUT

    @property
    def command_line(self) -> str:
        return shlex.join(self.argv)

    @property
    def exit_status(self) -> int | None:
        """The exit status as a shell reports it: 128+N for a kill by signal N."""
        if self.returncode is None:
            return None
        return self.returncode if self.returncode >= 0 else 128 - self.returncode

    @property
    def stdout_text(self) -> str:
        return show_bytes(self.stdout)

    @property
    def stderr_text(self) -> str:
        return show_bytes(self.stderr)

    def describe_end(self) -> str:
        """Say how the run ended, in words for the transcript."""
        if self.timed_out:
            return f"killed after running longer than {self.timeout:g} s"
        if self.output_limit_hit:
            return f"killed after printing more than {OUTPUT_LIMIT // 1024} KiB"
        if self.returncode is not None and self.returncode < 0:
            return f"killed by signal {-self.returncode}"
        return f"exit status {self.returncode}"


def show_bytes(data: bytes) -> str:
    """Decode output for display; invalid UTF-8 bytes appear as ``\\xNN``."""
    return data.decode("utf-8", errors="backslashreplace")


class ProgramRunner:
    """Runs ``PROGRAM run IMAGE COMMAND [ARG...]`` with a timeout and an output cap.

    Every process the program starts is killed when it exits or times out,
    also those that moved to another session, process group or PID namespace.
    """

    def __init__(
        self,
        program: Sequence[str],
        cwd: Path,
        timeout: float = DEFAULT_TIMEOUT,
        env: dict[str, str] | None = None,
        on_line: LineCallback | None = None,
    ) -> None:
        self.program = tuple(program)
        self.cwd = cwd
        self.timeout = timeout
        self.env = env
        self.on_line = on_line
        processes.become_subreaper()

    def argv(self, image: str, command: Sequence[str]) -> tuple[str, ...]:
        return (*self.program, "run", image, *command)

    def run(self, image: str, command: Sequence[str]) -> RunResult:
        """Run the program once and return what it printed and how it ended."""
        argv = self.argv(image, command)
        own_children = processes.children_of(os.getpid())
        started = time.monotonic()
        process = subprocess.Popen(
            argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        capture = _Capture(process, self.on_line)
        ended = capture.read_until_exit(started + self.timeout)

        # Whatever the program left running dies now, so the pipes reach end
        # of file and nothing of this run outlives it.
        leftovers = self._leftovers(process.pid, own_children)
        processes.kill_all(leftovers | {process.pid}, spare={process.pid})
        returncode = process.wait() if ended else None
        capture.drain()

        return RunResult(
            argv=argv,
            stdout=bytes(capture.output["stdout"]),
            stderr=bytes(capture.output["stderr"]),
            returncode=returncode,
            duration=time.monotonic() - started,
            timed_out=not ended and not capture.limit_hit,
            output_limit_hit=capture.limit_hit,
            leftover_processes=len(leftovers - {process.pid}) if ended else 0,
            timeout=self.timeout,
        )

    def run_in_terminal(self, image: str, command: Sequence[str]) -> RunResult:
        """Run the program with a pseudo-terminal as its stdin, stdout and stderr.

        Both streams arrive merged on the terminal, so the result's ``stdout``
        contains all of it (with the terminal's ``\\r\\n`` line ends) and ``stderr``
        is empty.
        """
        argv = self.argv(image, command)
        own_children = processes.children_of(os.getpid())
        started = time.monotonic()
        with warnings.catch_warnings():
            # Python 3.12+ warns that forkpty() in a process with threads (the
            # hub's) may deadlock the child; pexpect's child only calls exec.
            warnings.filterwarnings("ignore", "This process .* is multi-threaded")
            child = pexpect.spawn(
                argv[0], list(argv[1:]), cwd=str(self.cwd), env=self.env, timeout=None
            )
        output = bytearray()
        ended = True
        while True:
            remaining = started + self.timeout - time.monotonic()
            try:
                output += child.read_nonblocking(_READ_SIZE, timeout=max(remaining, 0))
            except pexpect.EOF:
                break
            except pexpect.TIMEOUT:
                ended = False
                break
            if len(output) > OUTPUT_LIMIT:
                ended = False
                break
        leftovers = self._leftovers(child.pid, own_children)
        processes.kill_all(leftovers | {child.pid}, spare={child.pid})
        child.close(force=True)
        limit_hit = len(output) > OUTPUT_LIMIT
        return RunResult(
            argv=argv,
            stdout=bytes(output[:OUTPUT_LIMIT]),
            stderr=b"",
            returncode=_pexpect_returncode(child) if ended else None,
            duration=time.monotonic() - started,
            timed_out=not ended and not limit_hit,
            output_limit_hit=limit_hit,
            leftover_processes=len(leftovers - {child.pid}) if ended else 0,
            timeout=self.timeout,
        )

    @staticmethod
    def _leftovers(pid: int, own_children: set[int]) -> set[int]:
        """Return the processes of this run that are still alive.

        Orphans of the program are re-parented to this process, the subreaper,
        so any new child of ours that is not the program itself belongs to it.
        """
        new_children = processes.children_of(os.getpid()) - own_children
        return processes.descendants(new_children | {pid})


def _pexpect_returncode(child: pexpect.spawn) -> int | None:
    if child.signalstatus is not None:
        return -child.signalstatus
    return child.exitstatus


class _Capture:
    """Reads a process's stdout and stderr separately, up to the output limit."""

    def __init__(self, process: subprocess.Popen, on_line: LineCallback | None):
        self.process = process
        self.on_line = on_line
        self.output = {"stdout": bytearray(), "stderr": bytearray()}
        self.partial = {"stdout": b"", "stderr": b""}
        self.limit_hit = False
        self.selector = selectors.DefaultSelector()
        for name in ("stdout", "stderr"):
            stream = getattr(process, name)
            os.set_blocking(stream.fileno(), False)
            self.selector.register(stream, selectors.EVENT_READ, name)

    def read_until_exit(self, deadline: float) -> bool:
        """Read until the program exits; return False on timeout or output limit."""
        while self.process.poll() is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.limit_hit:
                return False
            self._read_ready(min(remaining, 0.05))
        return True

    def drain(self) -> None:
        """Read what is left in the pipes once every writer is gone, then close them."""
        while self.selector.get_map() and not self.limit_hit:
            if not self._read_ready(1.0):
                break
        for name in ("stdout", "stderr"):
            if self.partial[name] and self.on_line:
                self.on_line(name, self.partial[name])
            getattr(self.process, name).close()
        self.selector.close()

    def _read_ready(self, timeout: float) -> bool:
        events = self.selector.select(timeout)
        for key, _ in events:
            name = key.data
            try:
                chunk = os.read(key.fileobj.fileno(), _READ_SIZE)
            except BlockingIOError:
                continue
            if not chunk:
                self.selector.unregister(key.fileobj)
                continue
            self._keep(name, chunk)
        return bool(events)

    def _keep(self, name: str, chunk: bytes) -> None:
        room = OUTPUT_LIMIT - len(self.output[name])
        if len(chunk) > room:
            chunk = chunk[:room]
            self.limit_hit = True
        self.output[name] += chunk
        if self.on_line:
            lines = (self.partial[name] + chunk).split(b"\n")
            self.partial[name] = lines.pop()
            for line in lines:
                self.on_line(name, line)
