"""Measure how many submissions per minute `grade` handles with one and two jobs.

Creates COPIES folders with the reference solution as their your_program.sh,
grades them through --stage with each --jobs value in turn, checks that every
row passed that stage, and prints the throughput and its ratio to the first.

    python3 benchmarks/batch_throughput.py --copies 40 --stage 6 --jobs 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
REFERENCE_PROGRAM = REPOSITORY / "tests" / "grading_programs" / "reference.sh"


def make_class(folder: Path, copies: int) -> None:
    """Create ``copies`` student folders, each running the reference solution."""
    text = REFERENCE_PROGRAM.read_text(encoding="utf-8")
    text = text.replace("@REPOSITORY@", str(REPOSITORY))
    for index in range(copies):
        student = folder / f"student{index:03}"
        student.mkdir(parents=True)
        program = student / "your_program.sh"
        program.write_text(text, encoding="utf-8")
        program.chmod(0o755)


def grade(
    submissions: Path, out: Path, stage: int, jobs: int, extra: list[str]
) -> float:
    """Grade the class and return the wall-clock seconds it took."""
    command = [
        sys.executable,
        "-m",
        "pytest_stages.grading",
        "grade",
        str(submissions),
        f"--stage={stage}",
        f"--jobs={jobs}",
        f"--out={out}",
    ]
    if extra:
        command += ["--", *extra]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"grade failed ({result.returncode}): {result.stderr}")
    return elapsed


def check_rows(out: Path, stage: int, copies: int) -> None:
    """Exit with a message unless every copy was graded and passed ``stage``."""
    rows = json.loads((out / "grades.json").read_text(encoding="utf-8"))["rows"]
    wrong = [
        row["student"]
        for row in rows
        if row["status"] != "graded" or row["highest_stage_passed"] != stage
    ]
    if len(rows) != copies or wrong:
        sys.exit(
            f"{len(wrong)} of {len(rows)} rows did not pass stage {stage}: {wrong}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--stage", type=int, default=6)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "pytest_args", nargs="*", help="passed to every pytest run, after --"
    )
    arguments = parser.parse_args()
    print(
        f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory(prefix="batch-throughput-") as temporary:
        root = Path(temporary)
        make_class(root / "class", arguments.copies)
        baseline = None
        for jobs in arguments.jobs:
            out = root / f"out-jobs-{jobs}"
            elapsed = grade(
                root / "class", out, arguments.stage, jobs, arguments.pytest_args
            )
            check_rows(out, arguments.stage, arguments.copies)
            per_minute = arguments.copies / elapsed * 60
            baseline = baseline or per_minute
            print(
                f"--jobs {jobs}: {arguments.copies} submissions through stage "
                f"{arguments.stage} in {elapsed:.1f} s = {per_minute:.2f} per minute "
                f"({per_minute / baseline:.2f} x --jobs {arguments.jobs[0]})",
                flush=True,
            )


if __name__ == "__main__":
    main()
