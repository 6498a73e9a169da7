"""Real peers of the hub for tests: the CNCF registry and a private Docker Engine.

A missing tool skips the test with the Debian package to install, unless
PYTEST_STAGES_REQUIRE_PEERS=1 is set, which turns the skip into a failure so
that CI cannot pass without the peers.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from pytest_stages.hub import Hub, build_images, default_specs

REQUIRE_PEERS_VARIABLE = "PYTEST_STAGES_REQUIRE_PEERS"
DEBIAN_PACKAGES = {
    "skopeo": "skopeo",
    "umoci": "umoci",
    "docker": "docker.io",
    "dockerd": "docker.io",
    "docker-registry": "docker-registry",
    "busybox": "busybox-static",
    "unshare": "util-linux",
    "ip": "iproute2",
}
STARTUP_TIMEOUT = 30  # seconds for a peer to start responding
DOCKER_HUB_HOSTS = (
    "127.0.0.1 localhost registry-1.docker.io registry.hub.docker.com "
    "index.docker.io auth.docker.io production.cloudflare.docker.com\n"
)


def require_tool(name: str) -> str:
    """Return the path of the program `name`, or skip (or fail) the test."""
    path = shutil.which(name)
    if path is not None:
        return path
    package = DEBIAN_PACKAGES.get(name, name)
    message = f"{name} is missing: install the Debian package {package}"
    if os.environ.get(REQUIRE_PEERS_VARIABLE) == "1":
        pytest.fail(f"{message} ({REQUIRE_PEERS_VARIABLE}=1 requires every peer)")
    pytest.skip(message)


def stop_process(process: subprocess.Popen, timeout: float = 10) -> None:
    """Stop a server with SIGTERM, so it can clean up, and SIGKILL it after timeout."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(url: str, timeout: float = STARTUP_TIMEOUT, **options) -> None:
    """Poll `url` until it responds with any HTTP status, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url, timeout=2, **options)
            return
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout} s") from None
            time.sleep(0.1)


@dataclass
class CncfRegistry:
    """A running CNCF registry (distribution) that trusts the hub's tokens."""

    url: str
    address: str
    process: subprocess.Popen
    log: Path


def cncf_registry_config(hub: Hub, storage: Path, address: str, bundle: Path) -> dict:
    """Return a distribution configuration using `hub` as its token service."""
    return {
        "version": 0.1,
        "log": {"level": "info"},
        "storage": {"filesystem": {"rootdirectory": str(storage)}},
        "http": {"addr": address, "secret": secrets.token_hex(16)},
        "auth": {
            "token": {
                "realm": hub.realm(),
                "service": hub.tokens.service,
                "issuer": hub.tokens.issuer,
                "rootcertbundle": str(bundle),
            }
        },
    }


@contextlib.contextmanager
def running_cncf_registry(hub: Hub, workdir: Path) -> Iterator[CncfRegistry]:
    """Start `/usr/bin/docker-registry` with token auth by `hub`, plain HTTP.

    `hub` must be running. Give it `token_actions=("pull", "push")` to let
    clients push to the registry.
    """
    program = require_tool("docker-registry")
    workdir.mkdir(parents=True, exist_ok=True)
    bundle = workdir / "token-signer.pem"
    bundle.write_bytes(hub.tokens.certificate_pem)
    address = f"127.0.0.1:{free_port()}"
    config = workdir / "config.yml"
    # JSON is YAML, and needs no YAML library.
    config.write_text(
        json.dumps(cncf_registry_config(hub, workdir / "storage", address, bundle))
    )
    log = workdir / "registry.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [program, "serve", str(config)], stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_for_http(f"http://{address}/v2/")
        yield CncfRegistry(f"http://{address}", address, process, log)
    finally:
        stop_process(process, timeout=10)


@dataclass
class DockerEngine:
    """A private dockerd with its own socket, data root and client config."""

    socket: Path
    environment: dict[str, str]
    process: subprocess.Popen
    log: Path

    def run(self, *arguments: str, check: bool = True, timeout: float = 120):
        """Run the docker client against this engine and return the result."""
        return subprocess.run(
            ["docker", *arguments],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )


@contextlib.contextmanager
def running_docker_engine(workdir: Path) -> Iterator[DockerEngine]:
    """Start dockerd with everything under `workdir`; stop it and clean up after.

    The engine has no bridge network and does not touch iptables, so it
    leaves the machine's network alone. Its pulls go only where a test
    points it, because every image name used names a loopback registry.
    """
    dockerd = require_tool("dockerd")
    require_tool("docker")
    workdir.mkdir(parents=True, exist_ok=True)
    engine_socket = workdir / "docker.sock"
    daemon_config = workdir / "daemon.json"
    daemon_config.write_text("{}")
    command = [
        dockerd,
        f"--config-file={daemon_config}",
        f"--data-root={workdir / 'data'}",
        f"--exec-root={workdir / 'exec'}",
        f"--pidfile={workdir / 'docker.pid'}",
        f"--host=unix://{engine_socket}",
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
        "--ip-masq=false",
    ]
    log = workdir / "dockerd.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    client_config = workdir / "client"
    client_config.mkdir(exist_ok=True)
    environment = os.environ | {
        "DOCKER_HOST": f"unix://{engine_socket}",
        "DOCKER_CONFIG": str(client_config),
    }
    engine = DockerEngine(engine_socket, environment, process, log)
    try:
        _wait_for_engine(engine)
        yield engine
    finally:
        stop_process(process, timeout=30)


def _wait_for_engine(engine: DockerEngine) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while engine.run("version", check=False, timeout=10).returncode != 0:
        if engine.process.poll() is not None or time.monotonic() > deadline:
            log = engine.log.read_text(errors="replace")[-3000:]
            pytest.fail(f"dockerd did not start; the end of its log:\n{log}")
        time.sleep(0.3)


@contextlib.contextmanager
def docker_trusts(ca: Path, address: str) -> Iterator[Path]:
    """Put `ca` where Docker Engine looks for the CA of the registry `address`.

    Docker Engine reads `/etc/docker/certs.d/HOST:PORT/ca.crt` and has no
    option to look elsewhere, so the file is written there and removed after.
    """
    folder = Path("/etc/docker/certs.d") / address
    created = [path for path in (folder.parent, folder) if not path.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "ca.crt"
    shutil.copyfile(ca, target)
    try:
        yield target
    finally:
        target.unlink(missing_ok=True)
        for path in reversed(created):
            # Another engine may have put its own files there meanwhile.
            with contextlib.suppress(OSError):
                path.rmdir()


def inspect_under_docker_hub_names(workdir: Path, skopeo: str, explorer: Path) -> int:
    """Serve the hub as Docker Hub on 127.0.0.1:443 and inspect docker.io/library/alpine.

    Meant to run as `unshare --mount --net --fork python3 peers.py WORKDIR
    SKOPEO EXPLORER`. The new network namespace has only a loopback interface,
    so no request can leave the machine even if a name resolved elsewhere, and
    the bind mount over /etc/hosts is seen by this mount namespace only.
    Prints a JSON report on the last line of stdout.
    """
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    hosts = workdir / "hosts"
    hosts.write_text(DOCKER_HUB_HOSTS)
    subprocess.run(["mount", "--bind", str(hosts), "/etc/hosts"], check=True)
    store = build_images(default_specs(), explorer, 5, workdir / "images")
    with Hub(store, tls_dir=workdir / "tls").start("127.0.0.1", 443) as hub:
        result = subprocess.run(
            [
                skopeo,
                "inspect",
                f"--cert-dir={hub.ca_path.parent}",
                "docker://docker.io/library/alpine:latest",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        challenge = requests.get(
            "https://registry-1.docker.io/v2/", verify=hub.ca_path, timeout=10
        ).headers["WWW-Authenticate"]
        log = [
            {"host": e.host, "path": e.path, "status": e.status, "note": e.note}
            for e in hub.requests_log
        ]
    report = {
        "returncode": result.returncode,
        "stdout": result.stdout,
        "stderr": result.stderr,
        "log": log,
        "challenge": challenge,
        "index_digest": store.tag("library/alpine", "latest").oci_index.digest,
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(
        inspect_under_docker_hub_names(
            Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
        )
    )
