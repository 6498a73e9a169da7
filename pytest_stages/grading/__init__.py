"""Grade a class: one grading run per student's folder, sharded, in one table.

``python3 -m pytest_stages.grading grade SUBMISSIONS_DIR --stage N`` grades
every folder, and ``... merge TABLE...`` joins the tables of several shards.
docs/teachers.md is the guide.
"""

from pytest_stages.grading.batch import GradeSettings, grade_class
from pytest_stages.grading.cli import main
from pytest_stages.grading.shards import Shard, parse_shard, select_shard
from pytest_stages.grading.table import (
    Row,
    Table,
    TableError,
    merge_tables,
    read_table,
    write_table,
)

__all__ = [
    "GradeSettings",
    "Row",
    "Shard",
    "Table",
    "TableError",
    "grade_class",
    "main",
    "merge_tables",
    "parse_shard",
    "read_table",
    "select_shard",
    "write_table",
]
