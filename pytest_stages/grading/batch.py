"""Grade every student's folder in its own pytest process, several at a time."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pytest_stages import processes
from pytest_stages.grading.shards import Shard, select_shard
from pytest_stages.grading.table import (
    ERROR,
    GRADED,
    NO_PROGRAM,
    TIMED_OUT,
    Row,
    Table,
)

DEFAULT_PROGRAM_NAMES = ("your_program.sh", "your_docker.sh")
DEFAULT_TIME_LIMIT = 600.0
LOG_LIMIT = 8 * 1024 * 1024
"""Bytes of a run's output kept in its log; the rest is read and dropped."""
INTERRUPT_GRACE = 5.0
"""Seconds a timed-out run gets after SIGINT to write its partial report."""

# `python3 -m pytest` would put the student's folder first on sys.path, where
# a file named pytest.py or a folder named _pytest would replace pytest itself.
_BOOTSTRAP = "import sys; del sys.path[0]; import pytest; sys.exit(pytest.main())"
_RUNNING: set[subprocess.Popen] = set()
"""The pytest runs under way, for ending them when the grading is interrupted."""
# Exit statuses of pytest that mean it graded the program: all checks passed,
# or some failed.
_GRADED_EXIT_STATUSES = (0, 1)


@dataclass(frozen=True)
class GradeSettings:
    """Settings of a ``grade`` run: which stages, how many at once, where results go."""

    submissions: Path
    stage: int
    out: Path
    jobs: int = 1
    time_limit: float = DEFAULT_TIME_LIMIT
    program_names: tuple[str, ...] = DEFAULT_PROGRAM_NAMES
    shard: Shard | None = None
    inifile: Path | None = None
    """The teacher's ini file (stages_points, stages_timeout); None for none."""
    pytest_args: tuple[str, ...] = ()
    """Extra arguments for every pytest run, such as ``--stages-backend none``."""


def list_students(submissions: Path) -> list[str]:
    """Return the names of the folders in ``submissions``, sorted; hidden ones are left out."""
    return sorted(
        entry.name
        for entry in submissions.iterdir()
        if entry.is_dir() and not entry.name.startswith(".")
    )


def grade_class(settings: GradeSettings) -> Table:
    """Grade every student of the shard, ``settings.jobs`` at a time, and return the table.

    Each student's row is independent of the others': a program that hangs,
    floods its output or crashes pytest only marks its own row.
    """
    students = [
        name
        for name in list_students(settings.submissions)
        if (settings.submissions / name).resolve() != settings.out.resolve()
    ]
    if settings.shard is not None:
        students = select_shard(students, settings.shard)
    # Processes that a killed pytest run leaves behind are re-parented to
    # this process, so they stay findable and killable.
    processes.become_subreaper()
    for folder in ("logs", "reports"):
        (settings.out / folder).mkdir(parents=True, exist_ok=True)
    inifile = _inifile_text(settings.inifile)
    pool = ThreadPoolExecutor(max_workers=settings.jobs)
    try:
        rows = list(
            pool.map(lambda name: grade_submission(settings, name, inifile), students)
        )
    except BaseException:
        # Ctrl-C: grade no more folders, and end the runs under way.
        pool.shutdown(wait=False, cancel_futures=True)
        for process in list(_RUNNING):
            processes.kill_all({process.pid}, spare={process.pid})
        raise
    pool.shutdown()
    _reap_orphans()
    return Table(
        stage=settings.stage,
        rows=rows,
        shard=str(settings.shard) if settings.shard else None,
        students=students,
    )


def _reap_orphans() -> None:
    """Reap the processes of finished runs that were re-parented to this process.

    Called only once every ``Popen`` is done, so it cannot take their statuses.
    """
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _inifile_text(inifile: Path | None) -> str:
    if inifile is None:
        return "[pytest]\n"
    return inifile.read_text(encoding="utf-8")


def grade_submission(settings: GradeSettings, student: str, inifile: str) -> Row:
    """Grade one student's folder and return its row.

    The student's faults (no program, a crash, a hang) become the row's status.
    """
    folder = settings.submissions / student
    program = _find_program(folder, settings.program_names)
    if program is None:
        names = " nor ".join(settings.program_names)
        return Row(student, NO_PROGRAM, error=f"neither {names} exists in the folder")
    if not os.access(folder / program, os.X_OK):
        return Row(
            student,
            NO_PROGRAM,
            error=f"{program} is not executable (fix: chmod +x {program})",
        )
    try:
        return _run_pytest(settings, student, program, inifile)
    except OSError as error:
        return Row(student, ERROR, error=f"the grading run failed to start: {error}")


def _find_program(folder: Path, names: tuple[str, ...]) -> str | None:
    for name in names:
        if (folder / name).is_file():
            return name
    return None


@dataclass
class _Run:
    """One pytest process and the files it writes."""

    student: str
    log_path: Path
    report_path: Path
    started: float = field(default_factory=time.monotonic)
    exit_status: int | None = None
    timed_out: bool = False


def _run_pytest(
    settings: GradeSettings, student: str, program: str, inifile: str
) -> Row:
    """Grade one student's folder in a pytest run of its own; return its row."""
    log_path = (settings.out / "logs" / f"{student}.log").resolve()
    report_path = (settings.out / "reports" / student / "report.json").resolve()
    # The session container makes the report's folder writable and hides the
    # host's /tmp, so the run's ini file and temporary folder go there too.
    run_folder = report_path.parent
    shutil.rmtree(run_folder, ignore_errors=True)
    temporary = run_folder / "tmp"
    temporary.mkdir(parents=True)
    (run_folder / "pytest.ini").write_text(inifile, encoding="utf-8")

    run = _Run(student, log_path, report_path)
    argv = [
        sys.executable,
        "-c",
        _BOOTSTRAP,
        f"--stage={settings.stage}",
        f"--program=./{program}",
        f"--stages-report={report_path}",
        f"-c={run_folder / 'pytest.ini'}",
        f"--rootdir={(settings.submissions / student).resolve()}",
        # A student's conftest.py could change the results, and the cache
        # would write into the student's folder.
        "--noconftest",
        "-p",
        "no:cacheprovider",
        *settings.pytest_args,
    ]

    try:
        _execute(settings, run, argv, temporary)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return _row(run, time.monotonic() - run.started, settings.time_limit)


def _execute(
    settings: GradeSettings, run: _Run, argv: list[str], temporary: Path
) -> None:
    env = dict(os.environ)
    for name in ("TMPDIR", "TEMP", "TMP"):
        env[name] = str(temporary)
    with open(run.log_path, "wb") as log:
        process = subprocess.Popen(
            argv,
            cwd=settings.submissions / run.student,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        copier = threading.Thread(
            target=_copy_capped, args=(process.stdout, log), daemon=True
        )
        copier.start()
        _RUNNING.add(process)
        try:
            run.exit_status = process.wait(timeout=settings.time_limit)
        except subprocess.TimeoutExpired:
            run.timed_out = True
            run.exit_status = _stop(process)
        finally:
            if process.poll() is None:
                _stop(process)
            _kill_group(process.pid)
            _RUNNING.discard(process)
        copier.join(timeout=5)


def _stop(process: subprocess.Popen) -> int:
    """Interrupt a run so that it writes its report, then kill what is left of it.

    SIGINT goes to the outer pytest only, because the session container passes
    it on to the pytest inside, and a second SIGINT would interrupt the writing
    of the report.
    """
    tree = processes.descendants({process.pid})
    _signal(process.pid, signal.SIGINT)
    deadline = time.monotonic() + INTERRUPT_GRACE
    while process.poll() is None and time.monotonic() < deadline:
        # Processes started after the SIGINT, or re-parented, join the tree.
        tree |= processes.descendants({process.pid})
        time.sleep(0.1)
    tree |= processes.descendants({process.pid})
    # NOTE: once pytest has exited, its leftover processes are found only by
    # their IDs in this snapshot. A process ID reused since then is killed too.
    processes.kill_all(tree - {process.pid})
    if process.poll() is None:
        processes.kill_all({process.pid}, spare={process.pid})
    return process.wait()


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # Ended already.


def _kill_group(pid: int) -> None:
    # Processes the run started in its own session, and left running, go too.
    _signal_group(pid, signal.SIGKILL)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # The group is empty already.


def _copy_capped(source: IO[bytes], log: IO[bytes]) -> None:
    """Copy a run's output to its log, up to ``LOG_LIMIT`` bytes, then drain the rest."""
    written = 0
    dropped = 0
    while chunk := source.read1(65536):  # type: ignore[attr-defined]
        room = LOG_LIMIT - written
        if room > 0:
            log.write(chunk[:room])
            log.flush()
        written += min(len(chunk), max(room, 0))
        dropped += max(len(chunk) - max(room, 0), 0)
    if dropped:
        log.write(
            f"\n[pytest-stages grade: {dropped} more bytes not logged]\n".encode()
        )
    source.close()


def _row(run: _Run, duration: float, time_limit: float) -> Row:
    report = _read_report(run.report_path)
    row = Row(
        run.student,
        GRADED,
        duration=round(duration, 2),
        log=str(run.log_path),
        report=str(run.report_path) if report else None,
    )
    if report:
        _fill_from_report(row, report)
    if run.timed_out:
        row.status = TIMED_OUT
        row.error = (
            f"the grading run took longer than the time limit of {time_limit:g} s"
        )
    elif report is None or run.exit_status not in _GRADED_EXIT_STATUSES:
        row.status = ERROR
        row.error = _harness_error(run, report)
    return row


def _read_report(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _fill_from_report(row: Row, report: dict[str, Any]) -> None:
    row.highest_stage_passed = report.get("highest_stage_passed")
    row.points = report["points"]["earned"]
    row.points_possible = report["points"]["possible"]
    for stage in report["stages"]:
        if stage["outcome"] == "failed":
            row.failed_stage = stage["number"]
            row.failure = (stage.get("failure") or {}).get("summary")
            break


def _harness_error(run: _Run, report: dict[str, Any] | None) -> str:
    """Say why pytest did not grade, from the last ``ERROR:`` line of its log."""
    detail = ""
    try:
        with open(run.log_path, "rb") as log:
            log.seek(max(0, os.fstat(log.fileno()).st_size - 65536))
            tail = log.read().decode("utf-8", "backslashreplace")
        errors = [line for line in tail.splitlines() if line.startswith("ERROR")]
        detail = errors[-1] if errors else ""
    except OSError:
        pass
    message = f"pytest exited with status {run.exit_status}"
    if report is None:
        message += " and wrote no report"
    return f"{message}: {detail}" if detail else message
