"""The ``grade`` and ``merge`` commands for teachers."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_stages.grading.batch import (
    DEFAULT_PROGRAM_NAMES,
    DEFAULT_TIME_LIMIT,
    GradeSettings,
    grade_class,
    list_students,
)
from pytest_stages.grading.shards import parse_shard
from pytest_stages.grading.table import (
    ERROR,
    STATUSES,
    TableError,
    merge_tables,
    read_table,
    write_table,
)

EXIT_OK = 0
EXIT_HARNESS_FAILED = 1
"""``grade``: the harness failed for some student; ``merge``: the tables do not merge."""
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``grade`` or ``merge`` with ``argv`` and return the exit status.

    ``argv`` defaults to ``sys.argv[1:]``; its first item is the command.
    """
    parser = _parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    pytest_args: list[str] = []
    if "--" in arguments:
        split = arguments.index("--")
        arguments, pytest_args = arguments[:split], arguments[split + 1 :]
    parsed = parser.parse_args(arguments)
    if parsed.command is None:
        parser.print_help()
        return EXIT_USAGE
    if parsed.command == "grade":
        try:
            return _grade(parser, parsed, pytest_args)
        except KeyboardInterrupt:
            print("grade interrupted: no table was written", file=sys.stderr)
            return EXIT_INTERRUPTED
    return _merge(parsed)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m pytest_stages.grading",
        description="Grade a class's programs with pytest-stages and merge the tables.",
    )
    commands = parser.add_subparsers(dest="command")
    _add_grade(commands)
    _add_merge(commands)
    return parser


def _add_grade(commands) -> None:  # noqa: ANN001
    grade = commands.add_parser(
        "grade",
        help="grade every student's folder and write the class table",
        description=(
            "Grade each folder of SUBMISSIONS_DIR (one per student) through stage N "
            "in its own pytest run. Arguments after `--` are passed to every pytest "
            "run, such as `-- --stages-timeout 30`. Exit status: 0 when every row "
            "is graded, timed out or has no program; 1 when the harness failed for "
            "some student (status 'error'); 2 for invalid arguments."
        ),
    )
    grade.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR")
    grade.add_argument(
        "--stage", type=int, required=True, metavar="N", help="grade stages 1 to N"
    )
    grade.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="J",
        help="grade J students at once (default 1)",
    )
    grade.add_argument(
        "--time-limit",
        type=float,
        default=DEFAULT_TIME_LIMIT,
        metavar="SECONDS",
        help="seconds one student's whole grading run may take before it is "
        f"stopped and marked 'timed out' (default {DEFAULT_TIME_LIMIT:g})",
    )
    grade.add_argument(
        "--out",
        type=Path,
        default=Path("grades"),
        metavar="DIR",
        help="folder for grades.csv, grades.json, logs/ and reports/ "
        "(default ./grades)",
    )
    grade.add_argument(
        "--shard",
        type=_shard,
        metavar="K/N",
        help="grade only shard K of N of the sorted folder names",
    )
    grade.add_argument(
        "--program-name",
        action="append",
        metavar="NAME",
        help="the program's file name in each folder; repeat for fallbacks "
        f"(default: {', then '.join(DEFAULT_PROGRAM_NAMES)})",
    )
    grade.add_argument(
        "--ini",
        type=Path,
        metavar="PATH",
        help="the teacher's pytest ini file, with stages_points or "
        "stages_timeout; the students' own ini files are ignored",
    )


def _add_merge(commands) -> None:  # noqa: ANN001
    merge = commands.add_parser(
        "merge",
        help="join the tables of several shards into one",
        description=(
            "Join shard tables (grades.json files, or the folders holding them) "
            "into one table. Exit status: 0 when merged; 1 when a student is in "
            "two tables, a shard is missing, or a student of --submissions or "
            "--students has no row; 2 for invalid arguments."
        ),
    )
    merge.add_argument("tables", type=Path, nargs="+", metavar="TABLE")
    merge.add_argument(
        "--out",
        type=Path,
        default=Path("grades"),
        metavar="DIR",
        help="folder for the merged grades.csv and grades.json (default ./grades)",
    )
    expected = merge.add_mutually_exclusive_group()
    expected.add_argument(
        "--submissions",
        type=Path,
        metavar="DIR",
        help="the full class: the folders of DIR",
    )
    expected.add_argument(
        "--students",
        type=Path,
        metavar="FILE",
        help="the full class: one student name a line",
    )


def _shard(text: str):  # noqa: ANN202
    try:
        return parse_shard(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _grade(
    parser: argparse.ArgumentParser, parsed: argparse.Namespace, pytest_args: list[str]
) -> int:
    if not parsed.submissions.is_dir():
        parser.error(f"SUBMISSIONS_DIR {parsed.submissions} is not a folder")
    if parsed.stage < 1 or parsed.jobs < 1 or parsed.time_limit <= 0:
        parser.error("--stage and --jobs must be at least 1, --time-limit above 0")
    settings = GradeSettings(
        submissions=parsed.submissions.resolve(),
        stage=parsed.stage,
        out=parsed.out.resolve(),
        jobs=parsed.jobs,
        time_limit=parsed.time_limit,
        program_names=tuple(parsed.program_name or DEFAULT_PROGRAM_NAMES),
        shard=parsed.shard,
        inifile=parsed.ini.resolve() if parsed.ini else None,
        pytest_args=tuple(pytest_args),
    )
    table = grade_class(settings)
    csv_path, json_path = write_table(table, settings.out)
    counts = {status: 0 for status in STATUSES}
    for row in table.rows:
        counts[row.status] += 1
    summary = ", ".join(f"{count} {status}" for status, count in counts.items())
    print(
        f"Graded {len(table.rows)} folders through stage {settings.stage}: {summary}."
    )
    print(f"Table: {csv_path} and {json_path}")
    for row in table.rows:
        if row.status == ERROR:
            print(
                f"error: {row.student}: {row.error} (log: {row.log})", file=sys.stderr
            )
    return EXIT_HARNESS_FAILED if counts[ERROR] else EXIT_OK


def _merge(parsed: argparse.Namespace) -> int:
    expected = None
    try:
        if parsed.submissions is not None:
            expected = list_students(parsed.submissions)
        elif parsed.students is not None:
            lines = parsed.students.read_text(encoding="utf-8").splitlines()
            expected = [line.strip() for line in lines if line.strip()]
        merged = merge_tables([read_table(path) for path in parsed.tables], expected)
    except (TableError, OSError) as error:
        print(f"merge failed: {error}", file=sys.stderr)
        return EXIT_HARNESS_FAILED
    csv_path, json_path = write_table(merged, parsed.out.resolve())
    print(
        f"Merged {len(merged.rows)} rows from {len(parsed.tables)} tables: "
        f"{csv_path} and {json_path}"
    )
    return EXIT_OK
