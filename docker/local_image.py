"""Build a test image for the docker backend from this machine's own files.

No image can be pulled where the tests run, so the image is a root filesystem
made of the host's Debian Python 3.11, the libraries it links, busybox and a
copy of pytest_stages, imported with `docker import`. It is tagged by a hash of
its inputs and reused while they do not change. Run as a script, it starts a
Docker daemon if none responds, builds the image and prints its name.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAGE_REPOSITORY = "pytest-stages-test"
PYTHON = "/usr/bin/python3.11"
PYTHON_LIB = "/usr/lib/python3.11"
BUSYBOX = "/bin/busybox"
# The packages a graded session needs: pytest, the plugin's dependencies and
# theirs, as folders and files of this machine's site-packages. Their
# dist-info folders come along, because pytest finds plugins by entry point.
SITE_PACKAGES = (
    "pexpect", "ptyprocess", "pytest", "_pytest", "py", "pluggy", "iniconfig",
    "packaging", "pygments", "requests", "urllib3", "idna", "certifi",
    "charset_normalizer", "cryptography", "cffi", "pycparser",
)  # fmt: skip
# The image ships a prebuilt explorer, so it needs no C compiler.
EXPLORER_IN_IMAGE = "/usr/local/lib/pytest-stages/docker-explorer"
IMAGE_FILE = "/etc/pytest-stages-image-file"
DAEMON_ROOT = Path("/var/lib/pytest-stages-dockerd")
DAEMON_RUN = Path("/run/pytest-stages-dockerd")
DAEMON_SOCKET = f"unix://{DAEMON_RUN}/docker.sock"


def daemon_responds(env: dict[str, str]) -> bool:
    """Return whether `docker version` reaches a daemon with env."""
    result = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        env=env,
        timeout=30,
        check=False,
    )
    return result.returncode == 0


@contextlib.contextmanager
def docker_daemon() -> Iterator[dict[str, str]]:
    """Yield an environment whose DOCKER_HOST reaches a running daemon.

    Uses the daemon that responds already, or starts one with its own data root
    (kept, so the image cache survives) and no bridge network, and stops it.
    """
    env = dict(os.environ)
    if daemon_responds(env):
        yield env
        return
    env["DOCKER_HOST"] = DAEMON_SOCKET
    if daemon_responds(env):
        yield env
        return
    DAEMON_RUN.mkdir(parents=True, exist_ok=True)
    log = open(DAEMON_RUN / "dockerd.log", "ab")
    daemon = subprocess.Popen(
        [
            "dockerd",
            f"--data-root={DAEMON_ROOT}",
            f"--exec-root={DAEMON_RUN}/exec",
            f"--pidfile={DAEMON_RUN}/dockerd.pid",
            f"--host={DAEMON_SOCKET}",
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
        ],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not daemon_responds(env):
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"dockerd did not start; see {DAEMON_RUN}/dockerd.log"
                )
            time.sleep(0.5)
        yield env
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()


def _shared_libraries(binaries: list[str]) -> set[str]:
    result = subprocess.run(
        ["ldd", *binaries], capture_output=True, text=True, check=False
    )
    libraries = set()
    for line in result.stdout.splitlines():
        for word in line.split():
            if word.startswith("/") and not word.endswith(":"):
                libraries.add(word)
    return libraries


def _image_inputs() -> list[tuple[str, str]]:
    """Return (host path, path in the image) for every file the image contains."""
    site = "/usr/lib/python3/dist-packages"
    host_site = Path(__import__("pexpect").__file__).parent.parent
    entries = [(PYTHON, PYTHON), (BUSYBOX, "/usr/bin/busybox")]
    for root, dirs, files in os.walk(PYTHON_LIB):
        dirs[:] = [d for d in dirs if d not in ("test", "__pycache__", "idlelib")]
        entries += [(os.path.join(root, f), os.path.join(root, f)) for f in files]
    for path in site_package_files(host_site):
        entries.append((path, f"{site}/{os.path.relpath(path, host_site)}"))
    for package in ("pytest_stages", "stages", "solution"):
        for path in sorted((REPO / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                entries.append((str(path), f"{site}/{path.relative_to(REPO)}"))
    entries.append((str(_explorer()), EXPLORER_IN_IMAGE))
    binaries = [PYTHON] + [h for h, _ in entries if h.endswith(".so")]
    for library in sorted(_shared_libraries(binaries)):
        real_dir = os.path.realpath(os.path.dirname(library))
        entries.append((library, f"{real_dir}/{os.path.basename(library)}"))
    return entries


def site_package_files(host_site: Path) -> list[str]:
    """Return the files of SITE_PACKAGES, their dist-info folders and the plugin's."""
    names = [*SITE_PACKAGES, "_cffi_backend"]
    tops = [
        path
        for path in sorted(host_site.iterdir())
        if path.name.split(".")[0].split("-")[0] in names
        or path.name.startswith("pytest_stages-")
        # Packages compiled with mypyc, such as charset_normalizer, keep a
        # shared library of theirs at the top of site-packages.
        or "__mypyc." in path.name
    ]
    files = []
    for top in tops:
        if top.is_file():
            files.append(str(top))
            continue
        for root, dirs, names_in_root in os.walk(top):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            files += [os.path.join(root, name) for name in names_in_root]
    # An editable install adds a path hook in a .pth file, which is not copied;
    # its direct_url.json would then point at a folder the image lacks.
    return [path for path in files if not path.endswith("direct_url.json")]


def _explorer() -> Path:
    sys.path.insert(0, str(REPO))
    from pytest_stages.explorer import build_explorer

    return build_explorer()


def _image_tag(entries: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for host_path, image_path in entries:
        stat = os.stat(host_path)
        digest.update(
            f"{host_path} {image_path} {stat.st_size} {stat.st_mtime_ns}\n".encode()
        )
    return f"{IMAGE_REPOSITORY}:{digest.hexdigest()[:16]}"


def _write_rootfs(entries: list[tuple[str, str]], output: io.BufferedWriter) -> None:
    with tarfile.open(fileobj=output, mode="w|") as tar:
        for name, mode in (
            ("tmp", 0o1777), ("var/tmp", 0o1777), ("proc", 0o555), ("sys", 0o555),
            ("dev", 0o755), ("root", 0o700), ("run", 0o755), ("etc/ssl/certs", 0o755),
            ("usr/local/bin", 0o755),
        ):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        for name, target in (
            ("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64"),
            ("sbin", "usr/sbin"), ("usr/bin/python3", "python3.11"),
            ("usr/bin/sh", "busybox"),
        ):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
        texts = {
            "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
            "etc/group": "root:x:0:\n",
            "etc/nsswitch.conf": "hosts: files dns\n",
            IMAGE_FILE.lstrip("/"): "a file of the image\n",
        }
        for name, text in texts.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        entries = entries + [("/etc/ssl/certs/ca-certificates.crt",) * 2]
        for host_path, image_path in entries:
            info = tar.gettarinfo(os.path.realpath(host_path), image_path.lstrip("/"))
            with open(host_path, "rb") as file:
                tar.addfile(info, file)


def build_test_image(env: dict[str, str]) -> str:
    """Return the name of the test image, importing it first if it is missing."""
    entries = _image_inputs()
    tag = _image_tag(entries)
    found = subprocess.run(
        ["docker", "image", "inspect", tag], capture_output=True, env=env, check=False
    )
    if found.returncode == 0:
        return tag
    importer = subprocess.Popen(
        [
            "docker",
            "import",
            "-c",
            "ENV PATH=/usr/local/bin:/usr/bin:/bin",
            "-c",
            f"ENV PYTEST_STAGES_EXPLORER={EXPLORER_IN_IMAGE}",
            "-",
            tag,
        ],  # fmt: skip
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    assert importer.stdin is not None
    _write_rootfs(entries, importer.stdin)
    importer.stdin.close()
    if importer.wait() != 0:
        raise RuntimeError(f"docker import of {tag} failed")
    return tag


if __name__ == "__main__":
    if shutil.which("docker") is None:
        sys.exit("docker is not installed")
    with docker_daemon() as daemon_env:
        print(build_test_image(daemon_env))
