"""Time the reference solution's pull against `skopeo copy` plus `umoci unpack`.

Builds an image of about 200 MiB (uncompressed) in five gzip layers of many
files: small and large, text that gzip shrinks and random bytes that it
cannot, in nested folders, with a few symlinks and hard links. The hub serves
it over plain HTTP on 127.0.0.1. Then, alternating, the script times:

- `solution.registry.pull_image()` into a fresh folder (the pull and
  extraction part of `python3 -m solution run`), and
- `skopeo copy` into a local OCI layout followed by `umoci unpack` into a
  fresh bundle (with `--rootless` when not run as root), and
- `umoci raw unpack` of the same layout, which skips the mtree manifest,

and prints the medians and the ratios of the solution to skopeo with each.

    python3 benchmarks/pull_vs_skopeo.py [--layer-mib 40] [--layers 5] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hub_vs_registry import REPOSITORY, timed_copy

from pytest_stages.hub import (
    File,
    Hardlink,
    Hub,
    ImageSpec,
    Layer,
    Platform,
    Symlink,
    build_images,
)
from solution.registry import INSECURE_REGISTRIES_VARIABLE, pull_image

IMAGE = "bench/files"
RESULT_NAMES = (
    "solution",
    "skopeo+umoci",
    "skopeo+umoci raw",
    "skopeo copy",
    "umoci unpack",
    "umoci raw unpack",
)
WORDS = (
    "the of and to in is that for it as was with be by on not he this are or "
    "his from at which but have an they you were her she there been one all "
    "would their we him has when who will more no if out so said what up its "
    "about into than them can only other new some could time these two may "
    "then do first any my now such like our over man me even most made after "
    "config import return value error module package library version default"
).split()


def text_pool(generator: random.Random, size: int) -> bytes:
    """Return SIZE bytes of word-salad lines, which gzip shrinks about 3 times."""
    lines = []
    length = 0
    while length < size:
        line = " ".join(generator.choices(WORDS, k=generator.randint(4, 14)))
        lines.append(line)
        length += len(line) + 1
    return "\n".join(lines).encode()[:size]


def file_size(generator: random.Random) -> int:
    # Most files of a real image are small (headers, scripts, .py files), but
    # a few large ones (shared libraries, data) hold most of the bytes. This
    # mix gives about 35 files per MiB of data.
    if generator.random() < 0.98:
        return int(2 ** generator.uniform(6, 16))  # 64 B to 64 KiB
    return int(2 ** generator.uniform(16, 22))  # 64 KiB to 4 MiB


def layer_entries(generator: random.Random, index: int, budget: int, pool: bytes):
    """Return the entries of one layer: files totalling BUDGET bytes and links."""
    entries = []
    used = 0
    number = 0
    while used < budget:
        size = min(file_size(generator), budget - used)
        folder = f"/usr/lib/pkg{index}-{number // 40}/sub{number % 5}"
        if generator.random() < 0.5:
            start = generator.randrange(len(pool) - size)
            entries.append(File(f"{folder}/f{number}.txt", pool[start : start + size]))
        else:
            entries.append(File(f"{folder}/f{number}.bin", generator.randbytes(size)))
        if number % 50 == 0:
            path = entries[-1].path
            entries.append(Symlink(f"{folder}/link{number}", os.path.basename(path)))
            entries.append(Hardlink(f"{folder}/hard{number}", path))
        used += size
        number += 1
    return tuple(entries)


def files_spec(layers: int, layer_mib: int, seed: int) -> ImageSpec:
    generator = random.Random(seed)
    pool = text_pool(generator, 8 << 20)
    built = [
        Layer(layer_entries(generator, index, layer_mib << 20, pool))
        for index in range(layers)
    ]
    return ImageSpec(IMAGE, ("latest",), (Platform("amd64", tuple(built)),))


def timed_solution_pull(image: str, root: Path) -> float:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    started = time.perf_counter()
    pull_image(image, str(root))
    return time.perf_counter() - started


def timed_umoci(command: str, layout: Path, bundle: Path) -> float:
    """Time `umoci unpack` or `umoci raw unpack` of tag "x" of LAYOUT into BUNDLE."""
    shutil.rmtree(bundle, ignore_errors=True)
    rootless = ["--rootless"] if os.geteuid() != 0 else []
    started = time.perf_counter()
    subprocess.run(
        ["umoci", "--log", "error", *command.split(), *rootless]
        + ["--image", f"{layout}:x", str(bundle)],
        check=True,
    )
    return time.perf_counter() - started


def run_once(address: str, workdir: Path, results: dict[str, list[float]]) -> None:
    """Pull the image once with each tool and append the times to RESULTS."""
    image = f"{address}/{IMAGE}:latest"
    results["solution"].append(timed_solution_pull(image, workdir / "root"))

    copy_time = timed_copy(f"docker://{image}", workdir / "layout")  # to tag "x"
    unpack_time = timed_umoci("unpack", workdir / "layout", workdir / "bundle")
    # `umoci unpack` also writes an mtree manifest, which hashes every file
    # it extracted; `umoci raw unpack` only extracts, as the solution does.
    raw_time = timed_umoci("raw unpack", workdir / "layout", workdir / "raw")
    results["skopeo copy"].append(copy_time)
    results["umoci unpack"].append(unpack_time)
    results["umoci raw unpack"].append(raw_time)
    results["skopeo+umoci"].append(copy_time + unpack_time)
    results["skopeo+umoci raw"].append(copy_time + raw_time)


def tree_paths(folder: Path) -> set[str]:
    """Return the relative paths of everything under FOLDER."""
    paths = set()
    for parent, folders, files in os.walk(folder):
        for name in folders + files:
            paths.add(os.path.relpath(os.path.join(parent, name), folder))
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=5, help="number of layers")
    parser.add_argument(
        "--layer-mib", type=int, default=40, help="MiB of file data per layer"
    )
    parser.add_argument("--runs", type=int, default=5, help="pulls with each tool")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="pull-bench-", dir="/var/tmp") as temp:
        workdir = Path(temp)
        started = time.perf_counter()
        spec = files_spec(arguments.layers, arguments.layer_mib, seed=1)
        store = build_images([spec], Path("/bin/busybox"), 1, workdir / "images")
        blobs = [p for p in (workdir / "images").rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in blobs)
        elapsed = time.perf_counter() - started
        print(f"built {size / 2**20:.0f} MiB of blobs in {elapsed:.1f} s")

        results: dict[str, list[float]] = {name: [] for name in RESULT_NAMES}
        with Hub(store, loopback=True).start() as hub:
            address = f"127.0.0.1:{hub.port}"
            os.environ[INSECURE_REGISTRIES_VARIABLE] = address
            for _ in range(arguments.runs):
                run_once(address, workdir, results)
        solution_paths = tree_paths(workdir / "root")
        umoci_paths = tree_paths(workdir / "raw")
        print(
            f"paths extracted: solution {len(solution_paths)}, umoci {len(umoci_paths)}"
        )
        if solution_paths != umoci_paths:
            print("error: the solution and umoci extracted different paths")
            return 1

    medians = {name: statistics.median(times) for name, times in results.items()}
    for name, times in results.items():
        listed = ", ".join(f"{t:.2f}" for t in times)
        print(f"{name:16} median {medians[name]:.2f} s  (runs: {listed})")
    for baseline in ("skopeo+umoci", "skopeo+umoci raw"):
        ratio = medians["solution"] / medians[baseline]
        print(f"solution / {baseline} time ratio: {ratio:.2f}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{platform.platform()}; repository {REPOSITORY}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
