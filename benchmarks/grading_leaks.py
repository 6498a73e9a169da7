"""Count what 50 grading runs leave on the host: processes, mounts, temporary folders.

Run as root from the repository root:

    python3 benchmarks/grading_leaks.py [--runs 50] [--backend root]

Each run is a whole `pytest --only-stage N` session in the session container,
cycling through programs that misbehave in the ways that leak: one that hangs
(killed by the run timeout), one that leaves a process in its own session and
one in a nested PID namespace, one that mounts /proc inside its chroot and then
crashes, one that floods its output, and the reference solution. Every process
of the runs carries a marker in its environment. Before and after, the script
takes the processes with the marker, the host's mount table and the entries of
the host's /tmp and /var/tmp, and prints what is left over.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from pytest_stages.container.leaks import LeakSnapshot  # noqa: E402

PROGRAMS = {
    "hangs": (1, "#!/bin/sh\nexec sleep 1000\n"),
    "leaves-processes": (
        1,
        "#!/bin/sh\nshift 2\nsetsid sleep 1000 &\n"
        "unshare --pid --fork --mount-proc sleep 1000 &\n"
        'exec "$@"\n',
    ),
    "mounts-proc-and-crashes": (
        4,
        '#!/bin/sh\nroot=$(mktemp -d)\nmkdir -p "$root/proc"\n'
        'mount -t proc proc "$root/proc"\nchroot "$root" /nonexistent\n'
        "kill -SEGV $$\n",
    ),
    "floods": (2, "#!/bin/sh\nexec yes flood\n"),
    "reference": (4, '#!/bin/sh\nexec python3 -m solution "$@"\n'),
}


def tmp_entries() -> set[str]:
    return {
        os.path.join(folder, name)
        for folder in ("/tmp", "/var/tmp")
        for name in os.listdir(folder)
    }


def grade(name: str, stage: int, folder: Path, backend: str, env: dict) -> int:
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "--only-stage", str(stage), "-q",
         "-p", "no:cacheprovider", "--stages-backend", backend,
         "--stages-timeout", "2", "--program", f"./{name}.sh"],
        cwd=folder, env=env, capture_output=True, check=False,
    )  # fmt: skip
    return completed.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--backend", default="root")
    args = parser.parse_args()

    marker = f"grading-leaks-{uuid.uuid4().hex}"
    env = dict(os.environ, GRADING_LEAKS_MARKER=marker)
    folder = Path(tempfile.mkdtemp(prefix="grading-leaks-", dir="/var/tmp"))
    shutil.copytree(REPOSITORY / "solution", folder / "solution")
    for name, (_, text) in PROGRAMS.items():
        (folder / f"{name}.sh").write_text(text)
        (folder / f"{name}.sh").chmod(0o755)
    before = LeakSnapshot.take(marker)
    entries_before = tmp_entries()

    started = time.monotonic()
    statuses: dict[str, list[int]] = {name: [] for name in PROGRAMS}
    names = list(PROGRAMS)
    for run in range(args.runs):
        name = names[run % len(names)]
        statuses[name].append(grade(name, PROGRAMS[name][0], folder, args.backend, env))
    elapsed = time.monotonic() - started

    shutil.rmtree(folder)
    leaks = LeakSnapshot.take(marker).leaks_since(before)
    new_entries = sorted(tmp_entries() - entries_before)
    print(f"{args.runs} grading runs on the {args.backend} backend in {elapsed:.0f} s")
    for name, codes in statuses.items():
        print(
            f"  {name}: pytest exit statuses {sorted(set(codes))} ({len(codes)} runs)"
        )
    print(f"leaked processes: {len(leaks['processes'])} {leaks['processes']}")
    print(f"leaked mounts: {len(leaks['mounts'])} {leaks['mounts']}")
    print(f"leaked session folders: {len(leaks['session_dirs'])}")
    print(f"new entries in /tmp and /var/tmp: {len(new_entries)} {new_entries}")


if __name__ == "__main__":
    main()
