"""The class table: one row per student, written as CSV and JSON, and merged."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

TABLE_VERSION = 1
CSV_NAME = "grades.csv"
JSON_NAME = "grades.json"

GRADED = "graded"
TIMED_OUT = "timed out"
NO_PROGRAM = "no program"
ERROR = "error"
STATUSES = (GRADED, TIMED_OUT, NO_PROGRAM, ERROR)


class TableError(Exception):
    """A table that cannot be read, or tables that do not merge."""


@dataclass
class Row:
    """One student's result, as a row of the class table."""

    student: str
    status: str
    """``graded``, ``timed out``, ``no program`` or ``error`` (the harness failed)."""
    highest_stage_passed: int | None = None
    points: float | None = None
    points_possible: float | None = None
    failed_stage: int | None = None
    failure: str | None = None
    """The summary of the first failed check, or None when no stage failed."""
    error: str | None = None
    """Why the row is not ``graded``: no program, a time-out, a harness error."""
    duration: float = 0.0
    log: str | None = None
    report: str | None = None

    def comparable(self) -> dict[str, Any]:
        """Return the row without the fields that differ between identical runs."""
        row = asdict(self)
        for name in ("duration", "log", "report"):
            row.pop(name)
        return row


_INTS = {"highest_stage_passed", "failed_stage"}
_FLOATS = {"points", "points_possible", "duration"}
COLUMNS = [item.name for item in fields(Row)]


@dataclass
class Table:
    """The rows of a class, with the stage they were graded to and the shard."""

    stage: int
    rows: list[Row]
    shard: str | None = None
    students: list[str] = field(default_factory=list)
    """Every student of the shard, so a merge can tell a lost row from none."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "table_version": TABLE_VERSION,
            "stage": self.stage,
            "shard": self.shard,
            "students": self.students,
            "rows": [asdict(row) for row in self.rows],
        }


def write_table(table: Table, folder: Path) -> tuple[Path, Path]:
    """Write ``grades.csv`` and ``grades.json`` into ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / JSON_NAME
    csv_path = folder / CSV_NAME
    _replace(json_path, json.dumps(table.as_dict(), indent=2) + "\n")
    _replace(csv_path, _csv_text(table.rows))
    return csv_path, json_path


def _csv_text(rows: list[Row]) -> str:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        cells = {
            name: "" if value is None else value for name, value in asdict(row).items()
        }
        writer.writerow(cells)
    return text.getvalue()


def _replace(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_table(path: Path) -> Table:
    """Read a table written by ``write_table``: its JSON file, or its CSV file.

    A CSV file carries no stage, shard or student list, so those come back
    as 0, None and the names of its rows.
    """
    if path.is_dir():
        path = path / JSON_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TableError(f"The table {path} cannot be read: {error}.") from None
    if path.suffix == ".csv":
        rows = [
            _row_from_csv(path, record) for record in csv.DictReader(text.splitlines())
        ]
        return Table(stage=0, rows=rows, students=[row.student for row in rows])
    return _table_from_json(path, text)


def _table_from_json(path: Path, text: str) -> Table:
    try:
        data = json.loads(text)
        rows = [Row(**row) for row in data["rows"]]
        return Table(
            stage=data["stage"],
            rows=rows,
            shard=data.get("shard"),
            students=data.get("students") or [row.student for row in rows],
        )
    except (ValueError, KeyError, TypeError) as error:
        raise TableError(
            f"The table {path} is invalid: {error}. Give the grades.json file "
            "that `grade` wrote."
        ) from None


def _row_from_csv(path: Path, record: dict[str, str]) -> Row:
    values: dict[str, Any] = {}
    try:
        for name in COLUMNS:
            raw = record[name]
            if raw == "" and name != "student":
                values[name] = None if name != "duration" else 0.0
            elif name in _INTS:
                values[name] = int(raw)
            elif name in _FLOATS:
                number = float(raw)
                values[name] = int(number) if number.is_integer() else number
            else:
                values[name] = raw
    except (KeyError, ValueError) as error:
        raise TableError(
            f"The table {path} is invalid: {error}. Its header must be "
            f"{','.join(COLUMNS)}."
        ) from None
    return Row(**values)


def merge_tables(tables: list[Table], expected: list[str] | None = None) -> Table:
    """Join the tables of several shards into one table, sorted by student.

    Raise ``TableError`` when a student appears in two tables, when the
    tables graded different stages, or when a shard of a set is missing.
    Given the ``expected`` list of students, also raise it when one of them
    has no row, or when a row names a student not in the list.
    """
    stages = {table.stage for table in tables if table.stage}
    if len(stages) > 1:
        raise TableError(
            f"The tables graded different stages ({', '.join(map(str, sorted(stages)))}): "
            "merge only the shards of one grading run."
        )
    rows: dict[str, Row] = {}
    for table in tables:
        for row in table.rows:
            if row.student in rows:
                raise TableError(
                    f"Student {row.student!r} appears in more than one table: a shard "
                    "table was given twice, or the shards overlap."
                )
            rows[row.student] = row
    _check_shards(tables)
    if expected is not None:
        _check_expected(set(rows), set(expected))
    merged = [rows[name] for name in sorted(rows)]
    return Table(
        stage=stages.pop() if stages else 0,
        rows=merged,
        students=[row.student for row in merged],
    )


def _check_shards(tables: list[Table]) -> None:
    shards = [table.shard for table in tables if table.shard]
    counts = {shard.split("/")[1] for shard in shards}
    if len(counts) > 1:
        raise TableError(
            f"The tables come from different shard counts ({', '.join(shards)}): "
            "merge the shards of one grading run."
        )
    if not counts or len(shards) != len(tables):
        return
    count = int(counts.pop())
    missing = sorted(set(range(1, count + 1)) - {int(s.split("/")[0]) for s in shards})
    if missing:
        names = ", ".join(f"{index}/{count}" for index in missing)
        raise TableError(f"The tables of shards {names} are missing.")
    for table in tables:
        lost = set(table.students) - {row.student for row in table.rows}
        if lost:
            raise TableError(
                f"The table of shard {table.shard} has no row for "
                f"{', '.join(sorted(lost))}."
            )


def _check_expected(found: set[str], expected: set[str]) -> None:
    missing = sorted(expected - found)
    if missing:
        raise TableError(f"No table has a row for {', '.join(missing)}.")
    unknown = sorted(found - expected)
    if unknown:
        raise TableError(
            f"The tables have rows for {', '.join(unknown)}, who are not in the "
            "list of students."
        )
