"""The reference solution run against the hub, the embedded registry, over TLS.

The hub listens on 127.0.0.1 with its own certificate authority, which the
solution trusts through REQUESTS_CA_BUNDLE, as it would inside the session
container.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

hub_package = pytest.importorskip("pytest_stages.hub")
explorer_package = pytest.importorskip("pytest_stages.explorer")

REPOSITORY = Path(__file__).resolve().parent.parent
TIMEOUT = 60  # seconds for one run of the solution

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="namespaces and chroot need root"
)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[hub_package.Hub]:
    base = tmp_path_factory.mktemp("hub")
    explorer = explorer_package.build_explorer()
    store = hub_package.build_images(
        hub_package.default_specs(), explorer, 11, base / "images"
    )
    with hub_package.Hub(store, tls_dir=base / "tls", loopback=True) as server:
        yield server


def run_solution(
    hub: hub_package.Hub, repository: str, *command: str
) -> subprocess.CompletedProcess:
    registry_host = hub.registry_url().split("://", 1)[1]
    environment = dict(
        os.environ, PYTHONPATH=str(REPOSITORY), REQUESTS_CA_BUNDLE=str(hub.ca_path)
    )
    for proxy in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        environment.pop(proxy, None)
    return subprocess.run(
        [sys.executable, "-m", "solution", "run", f"{registry_host}/{repository}"]
        + list(command),
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def test_image_from_hub_runs(hub: hub_package.Hub) -> None:
    result = run_solution(hub, "library/ubuntu", "/bin/cat", "/etc/os-release")

    assert result.returncode == 0, result.stderr
    assert 'NAME="ubuntu"' in result.stdout
    assert result.stderr == ""


def test_hub_whiteouts_applied(hub: hub_package.Hub) -> None:
    replaced = run_solution(
        hub, "stagescourse/layered:v1", "/bin/cat", "/data/keep/one"
    )
    dropped = run_solution(hub, "stagescourse/layered:v1", "/bin/cat", "/data/drop/two")

    assert replaced.returncode == 0, replaced.stderr
    assert replaced.stdout.startswith("one, replaced ")
    assert dropped.returncode != 0
    assert "two" not in dropped.stdout


def test_hub_storage_gets_no_token(hub: hub_package.Hub) -> None:
    hub.clear_requests_log()

    result = run_solution(hub, "library/alpine:3.20", "/bin/cat", "/etc/motd")

    storage = [
        entry for entry in hub.requests_log if entry.host.startswith("localhost")
    ]
    assert result.returncode == 0, result.stderr
    assert storage
    assert not any(entry.authorization for entry in storage)
    assert all(entry.status == 200 for entry in storage)
