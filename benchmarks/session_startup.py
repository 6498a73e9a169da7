"""Measure the session container: start-up cost per backend, and leaks over many runs.

Run as root on Linux from the repository root:

    python3 benchmarks/session_startup.py [--runs 20] [--leak-runs 50]

Start-up cost is the time from calling backend.run() to the first line the inner
command runs, minus the same command run without a container. The leak count
runs commands that exit, leave processes behind, crash after mounting /proc in
a chroot, and hang until interrupted, then counts the processes, mounts and
session folders left on the host: all must be zero. The userns backend runs as
an unprivileged user made for it. The docker backend uses the test image of
docker/local_image.py, which starts a daemon when none is running.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pytest_stages.container.leaks import LeakSnapshot  # noqa: E402

TEST_USER = "stagesuser"
SYSTEM_PYTHON = "/usr/bin/python3.11"

# Runs one session and prints, on stderr, the monotonic clock just before it.
DRIVER = """
import json, sys, time
from pathlib import Path
from pytest_stages.container import SessionSpec, select_backend
args = json.loads(sys.argv[1])
backend = select_backend(args["backend"], image=args["image"])
backend.interrupt_timeout = 5
if args["backend"] == "docker":
    backend.explorer_in_image = "/bin/busybox"
command = [sys.executable if word == "PYTHON" else word for word in args["command"]]
spec = SessionSpec(command=command, program_dir=Path(args["program_dir"]),
                   explorer=Path("/bin/busybox"), env={"MARKER": args["marker"]})
print(f"start {time.monotonic()}", file=sys.stderr, flush=True)
sys.exit(backend.run(spec))
"""

FIRST_LINE = "import time; print(time.monotonic(), flush=True)"
SLEEPER = "import time; time.sleep(600)"
# Each command is (name, Python script, how the benchmark ends it).
LEAK_COMMANDS = [
    ("exit", FIRST_LINE, None),
    (
        "double fork into own session",
        f"""import os, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", {SLEEPER!r} + " # " + os.environ["MARKER"]])
    os._exit(0)
os.wait()""",
        None,
    ),
    (
        "nested PID namespace",
        f"""import os, sys, time
from pytest_stages.container.syscalls import CLONE_NEWPID, unshare
unshare(CLONE_NEWPID)
if os.fork() == 0:
    os.execv(sys.executable, [sys.executable, "-c", {SLEEPER!r} + " # " + os.environ["MARKER"]])
time.sleep(0.2)""",
        None,
    ),
    (
        "chroot mounts /proc and crashes",
        """import os
from pytest_stages.container.syscalls import mount
os.makedirs("/tmp/chroot/proc")
pid = os.fork()
if pid == 0:
    os.chroot("/tmp/chroot")
    mount("proc", "/proc", "proc", 0)
    os.abort()
os.waitpid(pid, 0)""",
        None,
    ),
    (
        "hang, one Ctrl-C",
        "import time\nprint('ready', flush=True)\ntime.sleep(600)",
        [signal.SIGINT],
    ),
    (
        "hang ignoring Ctrl-C, two Ctrl-C",
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "print('ready', flush=True)\ntime.sleep(600)",
        [signal.SIGINT, signal.SIGINT],
    ),
]


def _load_local_image():
    spec = importlib.util.spec_from_file_location(
        "local_image", REPO / "docker" / "local_image.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


local_image = _load_local_image()


class Driver:
    """Starts sessions of one backend in driver processes."""

    def __init__(self, backend: str, python: list[str], env: dict, image: str | None):
        self.backend = backend
        self.python = python
        """The command that starts the interpreter, as the inner command's user."""
        self.prefix = [*python, "-c", DRIVER]
        self.image = image
        self.program_dir = Path(
            tempfile.mkdtemp(prefix="benchmark-program-", dir="/tmp")
        )
        # A temporary folder of its own, so that session folders of other pytest
        # runs on the machine do not count as leaks.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="benchmark-tmp-", dir="/tmp"))
        self.env = dict(env, TMPDIR=str(self.temp_dir))
        self.marker = f"benchmark-marker-{secrets.token_hex(8)}"

    def start(self, script: str) -> subprocess.Popen:
        """Start a session running the Python script; return the driver process."""
        args = {
            "backend": self.backend,
            "image": self.image,
            "marker": self.marker,
            "program_dir": str(self.program_dir),
            "command": ["PYTHON", "-c", f"{script}\n# {self.marker}\n"],
        }
        return subprocess.Popen(
            [*self.prefix, json.dumps(args)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def startup_seconds(self) -> float:
        """Run one session; return the time from run() to the inner first line."""
        process = self.start(FIRST_LINE)
        stdout, stderr = process.communicate(timeout=120)
        if process.returncode != 0:
            raise RuntimeError(f"{self.backend} session failed:\n{stderr}")
        started = float(stderr.split("start ", 1)[1].split()[0])
        return float(stdout.split()[0]) - started

    def run_to_end(self, script: str, signals: list[int] | None) -> None:
        """Run a session; send signals to the driver once the command is ready."""
        process = self.start(script)
        if signals:
            assert process.stdout is not None
            process.stdout.readline()
            for number in signals:
                process.send_signal(number)
                time.sleep(0.5)
        process.communicate(timeout=120)


def baseline_seconds(python: list[str], runs: int) -> float:
    """Return the median time to the first line of the command with no container."""
    times = []
    for _ in range(runs):
        started = time.monotonic()
        output = subprocess.run(
            [*python, "-c", FIRST_LINE],
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(float(output.stdout) - started)
    return statistics.median(times)


@contextlib.contextmanager
def drivers(backends: list[str]) -> Iterator[list[Driver]]:
    """Yield a Driver for each backend that can run here."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result: list[Driver] = []
    with contextlib.ExitStack() as stack:
        stack.callback(_remove_folders, result)
        if "root" in backends:
            result.append(Driver("root", [sys.executable], env, None))
        if "userns" in backends:
            result.append(stack.enter_context(_userns_driver(env)))
        if "docker" in backends and shutil.which("docker"):
            docker_env = stack.enter_context(local_image.docker_daemon())
            image = local_image.build_test_image(docker_env)
            docker_env = dict(docker_env, PYTHONPATH=str(REPO))
            result.append(Driver("docker", [sys.executable], docker_env, image))
        yield result


def _remove_folders(drivers: list[Driver]) -> None:
    for driver in drivers:
        shutil.rmtree(driver.program_dir, ignore_errors=True)
        shutil.rmtree(driver.temp_dir, ignore_errors=True)


@contextlib.contextmanager
def _userns_driver(env: dict) -> Iterator[Driver]:
    if subprocess.run(["id", TEST_USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-m", TEST_USER], check=True)
    # The user runs Debian's Python, which lacks the packages pytest_stages imports.
    site = Path(tempfile.mkdtemp(prefix="benchmark-site-", dir="/opt"))
    try:
        for name in local_image.SITE_PACKAGES:
            shutil.copytree(Path(__import__(name).__file__).parent, site / name)
        subprocess.run(["chmod", "-R", "a+rX", str(site)], check=True)
        user_env = dict(env, PYTHONPATH=f"{REPO}:{site}", HOME=f"/home/{TEST_USER}")
        setpriv = ["setpriv", f"--reuid={TEST_USER}", f"--regid={TEST_USER}"]
        python = [*setpriv, "--clear-groups", SYSTEM_PYTHON]
        driver = Driver("userns", python, user_env, None)
        shutil.chown(driver.program_dir, TEST_USER, TEST_USER)
        shutil.chown(driver.temp_dir, TEST_USER, TEST_USER)
        yield driver
    finally:
        shutil.rmtree(site)


def measure(driver: Driver, runs: int, leak_runs: int) -> dict:
    """Return the start-up times and the leak counts of one backend."""
    driver.startup_seconds()  # warm the page cache and the image
    times = sorted(driver.startup_seconds() for _ in range(runs))
    # The inner command of docker runs the image's Debian Python.
    python = [SYSTEM_PYTHON] if driver.backend == "docker" else driver.python
    baseline = baseline_seconds(python, runs)
    before = LeakSnapshot.take(driver.marker, str(driver.temp_dir))
    for index in range(leak_runs):
        _, script, signals = LEAK_COMMANDS[index % len(LEAK_COMMANDS)]
        driver.run_to_end(script, signals)
    after = LeakSnapshot.take(driver.marker, str(driver.temp_dir))
    leaks = after.leaks_since(before)
    return {
        "baseline_ms": baseline * 1000,
        "startup_median_ms": statistics.median(times) * 1000,
        "startup_max_ms": times[-1] * 1000,
        "leak_runs": leak_runs,
        "leaked": {kind: len(found) for kind, found in leaks.items()},
    }


def main() -> None:
    """Measure every backend named on the command line and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=20, help="start-up runs per backend"
    )
    parser.add_argument("--leak-runs", type=int, default=50, help="runs per leak count")
    parser.add_argument("--backends", default="root,userns,docker")
    args = parser.parse_args()
    print(
        "| backend | to first line, median | to first line, max | same command"
        " without container | start-up cost (median - without) | leak runs"
        " | leaked processes, mounts, session folders |"
    )
    print("|---|---|---|---|---|---|---|")
    with drivers(args.backends.split(",")) as found:
        for driver in found:
            result = measure(driver, args.runs, args.leak_runs)
            leaked = result["leaked"]
            cost = result["startup_median_ms"] - result["baseline_ms"]
            print(
                f"| {driver.backend} | {result['startup_median_ms']:.0f} ms"
                f" | {result['startup_max_ms']:.0f} ms | {result['baseline_ms']:.0f} ms"
                f" | {cost:.0f} ms | {result['leak_runs']}"
                f" | {leaked['processes']}, {leaked['mounts']}, {leaked['session_dirs']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
