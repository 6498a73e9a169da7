"""Measure the harness's overhead: `pytest --stage N` against the bare program runs.

Run as root from the repository root:

    python3 benchmarks/harness_overhead.py [--stage 3] [--seed 1]

It runs `pytest --stage N` once and reads the program invocations from its live
transcript (the `$ ...` lines). Then, in a session container of its own with the
hub running, it runs the same invocations one after another with
subprocess.run. The ratio of the two wall times is the harness's overhead:
session container, hub start, collection, checks and reporting.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


def graded_run(stage: int, seed: int) -> tuple[float, list[list[str]]]:
    """Run pytest once; return its wall time and the program invocations it made."""
    started = time.monotonic()
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            f"--stage={stage}",
            f"--stages-seed={seed}",
            "-p",
            "no:cacheprovider",
        ],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.monotonic() - started
    if completed.returncode != 0:
        sys.exit(f"pytest --stage {stage} failed:\n{completed.stdout[-3000:]}")
    commands = [
        shlex.split(line[2:])
        for line in completed.stdout.splitlines()
        if line.startswith("$ ")
    ]
    return wall, commands


def direct_runs(commands_file: Path, seed: int) -> None:
    """Inside the session container: start the hub, then time the bare runs."""
    from pytest_stages.hubsession import start_session_hub
    from pytest_stages.session import EXPLORER_INSIDE

    hub = start_session_hub(Path(EXPLORER_INSIDE), seed)
    commands = [shlex.split(line) for line in commands_file.read_text().splitlines()]
    started = time.monotonic()
    for argv in commands:
        subprocess.run(argv, cwd=REPOSITORY, capture_output=True, check=False)
    print(f"direct {time.monotonic() - started:.3f} {len(commands)}")
    hub.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--direct", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.direct:
        direct_runs(args.direct, args.seed)
        return

    wall, commands = graded_run(args.stage, args.seed)
    commands_file = REPOSITORY / ".benchmark-commands.txt"
    commands_file.write_text("\n".join(shlex.join(argv) for argv in commands))
    try:
        inside = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest_stages.container",
                "--program-dir",
                str(REPOSITORY),
                "--",
                sys.executable,
                __file__,
                "--seed",
                str(args.seed),
                "--direct",
                str(commands_file),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        commands_file.unlink()
    direct = float(inside.stdout.split()[1])
    print(
        f"pytest --stage {args.stage}: {wall:.2f} s wall, {len(commands)} program runs"
    )
    print(f"the same runs in a loop: {direct:.2f} s")
    print(f"harness overhead ratio: {wall / direct:.2f}x")


if __name__ == "__main__":
    main()
