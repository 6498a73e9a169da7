"""Measure each backend's start-up cost: from starting pytest to the first check.

Run as root from the repository root:

    python3 benchmarks/first_check.py [--runs 5]

For each backend it starts `pytest --only-stage 1` on a program that only
execs the command, and times how long it takes until the live transcript
prints the first `$ ...` line, which the first check writes just before it
runs the program. `none` (no container) is the baseline. The userns backend
runs as the user `stagesuser` (made when missing) with Debian's Python and a
copy of the packages it needs; the docker backend uses the image that
docker/local_image.py builds from this machine's files.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPOSITORY), str(REPOSITORY / "docker")]

import local_image  # noqa: E402

USER = "stagesuser"
SYSTEM_PYTHON = "/usr/bin/python3.11"
PROGRAM = '#!/bin/sh\nshift 2\nexec "$@"\n'


def time_to_first_check(command: list[str], folder: Path, env: dict[str, str]) -> float:
    """Start pytest and return the seconds until its first `$ ` line."""
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.PIPE, text=True
    )
    elapsed = None
    for line in process.stdout:
        if elapsed is None and line.startswith("$ "):
            elapsed = time.monotonic() - started
    if process.wait() != 0 or elapsed is None:
        sys.exit(f"{' '.join(command)} failed (exit status {process.returncode})")
    return elapsed


@contextlib.contextmanager
def program_folder(owner: str | None) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="first-check-", dir="/tmp"))
    program = folder / "your_program.sh"
    program.write_text(PROGRAM)
    program.chmod(0o755)
    folder.chmod(0o755)
    if owner:
        shutil.chown(folder, owner, owner)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def user_site_packages() -> Iterator[Path]:
    """Copy the packages a graded session needs where the test user can read them."""
    folder = Path(tempfile.mkdtemp(prefix="first-check-site-", dir="/opt"))
    host_site = Path(__import__("pytest").__file__).parent.parent
    for path in local_image.site_package_files(host_site):
        target = folder / os.path.relpath(path, host_site)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    for package in ("pytest_stages", "stages"):
        shutil.copytree(REPOSITORY / package, folder / package)
    subprocess.run(["chmod", "-R", "a+rX", str(folder)], check=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def measure(backend: str, runs: int) -> list[float]:
    grading = ["-m", "pytest", "--only-stage", "1", "-p", "no:cacheprovider"]
    grading += ["--stages-backend", backend]
    env = dict(os.environ)
    with contextlib.ExitStack() as stack:
        owner = None
        command = [sys.executable, *grading]
        if backend == "userns":
            if subprocess.run(["id", USER], capture_output=True).returncode != 0:
                subprocess.run(["useradd", "-m", USER], check=True)
            site = stack.enter_context(user_site_packages())
            owner = USER
            env.update(PYTHONPATH=str(site), HOME=f"/home/{USER}", USER=USER)
            setpriv = ["setpriv", f"--reuid={USER}", f"--regid={USER}"]
            command = [*setpriv, "--clear-groups", SYSTEM_PYTHON, *grading]
        if backend == "docker":
            docker_env = stack.enter_context(local_image.docker_daemon())
            env.update(docker_env)
            env["PYTEST_STAGES_IMAGE"] = local_image.build_test_image(docker_env)
        folder = stack.enter_context(program_folder(owner))
        # One run first, so that caches (the explorer build) are warm.
        time_to_first_check(command, folder, env)
        return [time_to_first_check(command, folder, env) for _ in range(runs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--backends", nargs="+", default=["none", "root", "userns", "docker"]
    )
    args = parser.parse_args()

    results = {backend: measure(backend, args.runs) for backend in args.backends}

    baseline = statistics.median(results["none"]) if "none" in results else None
    print("| backend | median to the first check (s) | runs (s) | cost over none (s) |")
    print("|---|---|---|---|")
    for backend, times in results.items():
        median = statistics.median(times)
        runs = ", ".join(f"{value:.2f}" for value in times)
        extra = f"{median - baseline:.2f}" if baseline is not None else ""
        print(f"| {backend} | {median:.2f} | {runs} | {extra} |")


if __name__ == "__main__":
    main()
