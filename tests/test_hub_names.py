"""The hub under Docker Hub's own host names, as inside the session container."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from peers import require_tool

HELPER = Path(__file__).with_name("peers.py")
REPOSITORY = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pull_report(tmp_path_factory):
    """Run `skopeo inspect docker://docker.io/library/alpine` in a private namespace."""
    if os.geteuid() != 0:
        pytest.skip("a network namespace and a bind mount need root")
    require_tool("unshare")
    require_tool("ip")
    skopeo = require_tool("skopeo")
    busybox = require_tool("busybox")
    workdir = tmp_path_factory.mktemp("names")
    result = subprocess.run(
        ["unshare", "--mount", "--net", "--fork", sys.executable, str(HELPER)]
        + [str(workdir), skopeo, busybox],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"PYTHONPATH": str(REPOSITORY)},
    )
    if result.returncode != 0:
        pytest.fail(f"the namespace helper failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.splitlines()[-1])


def test_skopeo_pulls_docker_io(pull_report):
    assert pull_report["returncode"] == 0, pull_report["stderr"]
    details = json.loads(pull_report["stdout"])
    assert details["Name"] == "docker.io/library/alpine"
    assert details["Digest"] == pull_report["index_digest"]


def test_challenge_names_auth_docker_io(pull_report):
    assert pull_report["challenge"] == (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"'
    )


def test_requests_use_real_names(pull_report):
    hosts = {entry["host"].split(":")[0] for entry in pull_report["log"]}

    assert "registry-1.docker.io" in hosts
    assert "auth.docker.io" in hosts
    tokens = [e for e in pull_report["log"] if e["path"] == "/token"]
    assert tokens
    assert {e["status"] for e in tokens} == {200}


def test_config_fetched_from_storage(pull_report):
    storage = [
        entry
        for entry in pull_report["log"]
        if entry["host"].startswith("production.cloudflare.docker.com")
    ]

    assert storage
    assert {entry["status"] for entry in storage} == {200}
