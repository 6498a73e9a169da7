"""Time `skopeo copy` of a large image from the hub and from the CNCF registry.

Builds an image of about 200 MB in five layers of random bytes (so gzip
cannot shrink it), serves it from the hub, pushes it to a CNCF registry
(`docker-registry`) that uses the hub as its token service, then copies it
from each into a local OCI layout several times and prints the medians and
their ratio. Both servers speak plain HTTP on loopback.

    python3 benchmarks/hub_vs_registry.py [--layer-mib 40] [--layers 5] [--runs 3]
"""

from __future__ import annotations

import argparse
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPOSITORY), str(REPOSITORY / "tests")]

from peers import running_cncf_registry  # noqa: E402

from pytest_stages.hub import (  # noqa: E402
    File,
    Hub,
    ImageSpec,
    Layer,
    Platform,
    build_images,
)

IMAGE = "bench/large"


def large_spec(layers: int, layer_mib: int, seed: int) -> ImageSpec:
    generator = random.Random(seed)
    entries = [
        Layer((File(f"/data/part-{index}", generator.randbytes(layer_mib << 20)),))
        for index in range(layers)
    ]
    return ImageSpec(IMAGE, ("latest",), (Platform("amd64", tuple(entries)),))


def timed_copy(source: str, target: Path) -> float:
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            source,
            f"oci:{target}:x",
        ],
        check=True,
    )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=5, help="number of layers")
    parser.add_argument(
        "--layer-mib", type=int, default=40, help="MiB of data per layer"
    )
    parser.add_argument("--runs", type=int, default=3, help="copies from each server")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hub-bench-") as temporary:
        workdir = Path(temporary)
        started = time.perf_counter()
        spec = large_spec(arguments.layers, arguments.layer_mib, seed=1)
        store = build_images([spec], Path("/bin/busybox"), 1, workdir / "images")
        size = sum(
            p.stat().st_size for p in (workdir / "images").rglob("*") if p.is_file()
        )
        print(
            f"built {size / 2**20:.0f} MiB of blobs in {time.perf_counter() - started:.1f} s"
        )

        with Hub(store, loopback=True, token_actions=("pull", "push")).start() as hub:
            with running_cncf_registry(hub, workdir / "registry") as registry:
                hub_source = f"docker://127.0.0.1:{hub.port}/{IMAGE}:latest"
                registry_source = f"docker://{registry.address}/{IMAGE}:latest"
                subprocess.run(
                    ["skopeo", "copy", "--quiet", "--src-tls-verify=false"]
                    + ["--dest-tls-verify=false", hub_source, registry_source],
                    check=True,
                )
                results = {"hub": [], "registry": []}
                for _ in range(arguments.runs):
                    results["hub"].append(timed_copy(hub_source, workdir / "out"))
                    results["registry"].append(
                        timed_copy(registry_source, workdir / "out")
                    )

    medians = {name: statistics.median(times) for name, times in results.items()}
    for name, times in results.items():
        listed = ", ".join(f"{t:.2f}" for t in times)
        print(f"{name:8} median {medians[name]:.2f} s  (runs: {listed})")
    print(f"hub / registry time ratio: {medians['hub'] / medians['registry']:.2f}")
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.platform()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
