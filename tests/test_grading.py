"""Tests for grading a class: the batch command, its table, shards and merge.

A class folder holds the reference solution and programs that each go wrong
in one way. The tests grade it through stage 3 with real pytest processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import BACKEND

from pytest_stages import processes
from pytest_stages.explorer import CACHE_ENV
from pytest_stages.grading import (
    Shard,
    Table,
    TableError,
    merge_tables,
    parse_shard,
    read_table,
    select_shard,
)
from pytest_stages.grading.batch import LOG_LIMIT

REPOSITORY = Path(__file__).resolve().parent.parent
PROGRAMS = Path(__file__).resolve().parent / "grading_programs"
STAGE = "3"
TIME_LIMIT = "30"
# Longer than TIME_LIMIT, so the hanging program hits the time limit of the
# whole run rather than the timeout of one run of the program.
RUN_TIMEOUT = "60"
COMMAND_TIMEOUT = 300  # seconds for one grade or merge command
SEED = "4242"
# The sleep arguments of hangs.sh start with 98765; install() puts this test
# process's ID in front, so that another test run on the machine at the same
# time (CI runs two) never counts as a leftover of this one.
HANG_MARKER = f"{os.getpid()}98765"

WRONG_PROGRAMS = {
    "wrong_output": "wrong_output.sh",
    "merged_stderr": "merged_stderr.sh",
    "always_zero": "always_zero.sh",
    "hangs": "hangs.sh",
    "floods": "floods.sh",
}


def make_class(folder: Path) -> Path:
    """Create a class folder: one subfolder per student, each with its program."""
    folder.mkdir()
    reference = (PROGRAMS / "reference.sh").read_text(encoding="utf-8")
    reference = reference.replace("@REPOSITORY@", str(REPOSITORY))
    for student, name in (
        ("reference", "your_program.sh"),
        ("old_name", "your_docker.sh"),
    ):
        install(folder / student, name, reference)
    # pytest must not import the student's pytest.py, nor load the conftest.py.
    shadow = folder / "shadows_pytest"
    install(shadow, "your_program.sh", reference)
    (shadow / "pytest.py").write_text("raise SystemExit(99)\n", encoding="utf-8")
    (shadow / "conftest.py").write_text("raise SystemExit(98)\n", encoding="utf-8")
    for student, program in WRONG_PROGRAMS.items():
        text = (PROGRAMS / program).read_text(encoding="utf-8")
        install(folder / student, "your_program.sh", text)
    install(folder / "not_executable", "your_program.sh", reference, mode=0o644)
    (folder / "empty").mkdir()
    return folder


def install(folder: Path, name: str, text: str, mode: int = 0o755) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = text.replace("sleep 98765", f"sleep {HANG_MARKER}")
    (folder / name).write_text(text, encoding="utf-8")
    (folder / name).chmod(mode)


def grade_command(submissions: Path, out: Path, *options: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest_stages.grading",
        "grade",
        str(submissions),
        "--stage",
        STAGE,
        "--time-limit",
        TIME_LIMIT,
        "--out",
        str(out),
        *options,
        "--",
        "--stages-backend",
        BACKEND,
        "--stages-timeout",
        RUN_TIMEOUT,
        # The same values in every run, so that shards and the whole class agree.
        "--stages-seed",
        SEED,
    ]


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT
    )


def comparable(table: Table) -> list[dict]:
    return [row.comparable() for row in table.rows]


@pytest.fixture(scope="module")
def grading_env(explorer_cache: Path) -> dict[str, str]:
    return {**os.environ, CACHE_ENV: str(explorer_cache)}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, grading_env: dict[str, str]):
    """The class folder, graded at once, and the command's result."""
    root = tmp_path_factory.mktemp("class")
    submissions = make_class(root / "submissions")
    out = root / "out"
    result = run(grade_command(submissions, out, "--jobs", "3"), grading_env)
    return submissions, out, result


@pytest.fixture(scope="module")
def sharded(graded, grading_env: dict[str, str]) -> list[Path]:
    """The same class graded in three shards at the same time; their out folders."""
    submissions, out, _ = graded
    folders = [out.parent / f"shard-{index}" for index in (1, 2, 3)]
    commands = [
        grade_command(submissions, folder, "--shard", f"{index}/3")
        for index, folder in enumerate(folders, start=1)
    ]
    running = [
        subprocess.Popen(command, env=grading_env, stdout=subprocess.DEVNULL)
        for command in commands
    ]
    for process in running:
        assert process.wait(timeout=COMMAND_TIMEOUT) == 0
    return folders


def rows_by_student(out: Path) -> dict[str, dict]:
    table = json.loads((out / "grades.json").read_text(encoding="utf-8"))
    return {row["student"]: row for row in table["rows"]}


def test_grade_exit_status(graded) -> None:
    _, _, result = graded

    assert result.returncode == 0, result.stderr
    assert "0 error" in result.stdout


def test_grade_covers_every_folder(graded) -> None:
    submissions, out, _ = graded

    rows = rows_by_student(out)

    assert sorted(rows) == sorted(entry.name for entry in submissions.iterdir())


@pytest.mark.parametrize("student", ["reference", "old_name", "shadows_pytest"])
def test_grade_reference_rows(graded, student: str) -> None:
    row = rows_by_student(graded[1])[student]

    assert row["status"] == "graded", row
    assert row["highest_stage_passed"] == 3
    assert row["points"] == 3
    assert row["points_possible"] == 3
    assert row["failed_stage"] is None
    assert row["failure"] is None
    assert row["error"] is None


@pytest.mark.parametrize(
    ("student", "highest", "failed", "summary"),
    [
        ("wrong_output", None, 1, "did not appear on stdout"),
        ("merged_stderr", 1, 2, "stderr appeared on stdout"),
        ("always_zero", 2, 3, "exited with 0"),
        ("floods", None, 1, "printed too much"),
    ],
)
def test_grade_wrong_program_rows(
    graded, student: str, highest: int | None, failed: int, summary: str
) -> None:
    row = rows_by_student(graded[1])[student]

    assert row["status"] == "graded", row
    assert row["highest_stage_passed"] == highest
    assert row["points"] == (highest or 0)
    assert row["failed_stage"] == failed
    assert summary in row["failure"]
    assert Path(row["log"]).is_file()
    assert Path(row["report"]).is_file()


def test_grade_hanging_program_row(graded) -> None:
    row = rows_by_student(graded[1])["hangs"]

    assert row["status"] == "timed out"
    assert "time limit of 30 s" in row["error"]
    assert row["highest_stage_passed"] is None
    assert row["points"] == 0
    report = json.loads(Path(row["report"]).read_text(encoding="utf-8"))
    assert report["interrupted"] is True


def hanging_processes() -> list[bytes]:
    """Return the command lines of the processes that hangs.sh started."""
    commands = []
    for pid in processes.parent_links():
        try:
            commands.append(Path(f"/proc/{pid}/cmdline").read_bytes())
        except OSError:
            continue  # The process ended while it was read.
    return [command for command in commands if HANG_MARKER.encode() in command]


def test_grade_kills_hanging_processes(graded) -> None:
    assert not hanging_processes()


def test_grade_caps_flooding_log(graded) -> None:
    row = rows_by_student(graded[1])["floods"]

    log = Path(row["log"])

    assert log.stat().st_size <= LOG_LIMIT + 200
    assert b"flood flood" in log.read_bytes()


@pytest.mark.parametrize(
    ("student", "error"),
    [
        ("empty", "neither your_program.sh nor your_docker.sh exists"),
        ("not_executable", "your_program.sh is not executable"),
    ],
)
def test_grade_no_program_rows(graded, student: str, error: str) -> None:
    row = rows_by_student(graded[1])[student]

    assert row["status"] == "no program"
    assert error in row["error"]
    assert row["highest_stage_passed"] is None
    assert row["log"] is None


def test_grade_writes_matching_csv(graded) -> None:
    out = graded[1]

    csv_table = read_table(out / "grades.csv")
    json_table = read_table(out / "grades.json")

    assert comparable(csv_table) == comparable(json_table)
    assert json_table.stage == 3


def test_shards_merge_to_unsharded_table(graded, sharded: list[Path]) -> None:
    submissions, out, _ = graded
    merged_out = out.parent / "merged"

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_stages.grading",
            "merge",
            *map(str, sharded),
            "--submissions",
            str(submissions),
            "--out",
            str(merged_out),
        ],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )

    assert result.returncode == 0, result.stderr
    merged = read_table(merged_out / "grades.json")
    assert comparable(merged) == comparable(read_table(out / "grades.json"))
    sizes = [len(read_table(folder).rows) for folder in sharded]
    assert max(sizes) - min(sizes) <= 1


def test_merge_rejects_overlap(graded, sharded: list[Path]) -> None:
    tables = [read_table(sharded[0]), read_table(sharded[0])]

    with pytest.raises(TableError, match="more than one table"):
        merge_tables(tables)


def test_merge_rejects_missing_shard(sharded: list[Path]) -> None:
    tables = [read_table(sharded[0]), read_table(sharded[2])]

    with pytest.raises(TableError, match="shards 2/3 are missing"):
        merge_tables(tables)


def test_merge_rejects_missing_student(graded) -> None:
    table = read_table(graded[1])
    expected = [row.student for row in table.rows] + ["late_student"]

    with pytest.raises(TableError, match="No table has a row for late_student"):
        merge_tables([table], expected)


def test_merge_command_exit_status(graded, tmp_path: Path) -> None:
    table = graded[1] / "grades.json"
    students = tmp_path / "students.txt"
    students.write_text("reference\n", encoding="utf-8")

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_stages.grading",
            "merge",
            str(table),
            "--students",
            str(students),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )

    assert result.returncode == 1
    assert "merge failed" in result.stderr
    assert "not in the list of students" in result.stderr


def test_grade_harness_error_exit_status(
    tmp_path: Path, grading_env: dict[str, str]
) -> None:
    submissions = tmp_path / "submissions"
    install(submissions / "student", "your_program.sh", "#!/bin/sh\n")
    command = grade_command(submissions, tmp_path / "out")
    command += ["--stages-timeout=-1"]  # pytest rejects it: a usage error

    result = run(command, grading_env)

    assert result.returncode == 1
    row = rows_by_student(tmp_path / "out")["student"]
    assert row["status"] == "error"
    assert "pytest exited with status 4" in row["error"]
    assert "timeout" in row["error"]


def test_grade_missing_folder_is_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_stages.grading",
            "grade",
            str(tmp_path / "nothing"),
            "--stage",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )

    assert result.returncode == 2
    assert "is not a folder" in result.stderr


def test_select_shard_covers_names_once() -> None:
    names = [f"student{index:02}" for index in range(10)]
    shuffled = names[::-1]

    shards = [select_shard(shuffled, Shard(index, 3)) for index in (1, 2, 3)]

    assert sorted(sum(shards, [])) == names
    assert shards[0] == ["student00", "student03", "student06", "student09"]
    assert select_shard(names, Shard(1, 3)) == shards[0]


@pytest.mark.parametrize("text", ["0/3", "4/3", "1", "a/b", "1/0", "-1/3"])
def test_parse_shard_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        parse_shard(text)


def test_parse_shard_valid() -> None:
    assert parse_shard("2/3") == Shard(2, 3)
    assert str(parse_shard(" 3/3 ")) == "3/3"


def test_grade_interrupt_ends_runs(tmp_path: Path, grading_env: dict[str, str]) -> None:
    submissions = tmp_path / "submissions"
    for student in ("first", "second", "third"):
        install(
            submissions / student,
            "your_program.sh",
            (PROGRAMS / "hangs.sh").read_text(),
        )
    command = grade_command(submissions, tmp_path / "out", "--jobs", "2")
    process = subprocess.Popen(
        command,
        env=grading_env,
        stderr=subprocess.PIPE,
        text=True,
        # A SIGINT that this test's own process group ignores must still arrive.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(5)

    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 130
    assert "no table was written" in stderr
    assert not (tmp_path / "out" / "grades.json").exists()
    assert not hanging_processes()
