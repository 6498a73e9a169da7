"""The standalone `python3 -m pytest_stages.hub serve` command and fault parsing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from peers import free_port, require_tool, stop_process, wait_for_http

from pytest_stages.hub import Fault
from pytest_stages.hub.faults import parse_fault

REPOSITORY = Path(__file__).resolve().parent.parent


@pytest.fixture
def served(tmp_path):
    """Run the serve command with plain HTTP and one planned fault; yield its URL."""
    busybox = require_tool("busybox")
    port = free_port()
    output = tmp_path / "output.txt"
    command = [sys.executable, "-m", "pytest_stages.hub", "serve"]
    command += ["--port", str(port), "--seed", "42", "--explorer", busybox]
    command += ["--fault", "503:1:^/v2/$"]
    with open(output, "w") as stream:
        process = subprocess.Popen(
            command,
            stdout=stream,
            stderr=subprocess.STDOUT,
            cwd=REPOSITORY,
            # Its work folder goes under tmp_path, so nothing stays in /tmp.
            env=os.environ | {"PYTHONPATH": str(REPOSITORY), "TMPDIR": str(tmp_path)},
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/token")
        yield f"http://127.0.0.1:{port}", output, process
    finally:
        # SIGTERM lets the command remove its work folder; SIGKILL would not.
        stop_process(process)


def test_serve_prints_usage(served):
    url, output, _ = served
    deadline = time.monotonic() + 10
    while "Press Ctrl+C" not in output.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)

    text = output.read_text()
    assert "seed 42" in text
    assert f"curl -si {url}/v2/" in text
    assert "library/alpine:latest" in text


def test_serve_applies_fault(served):
    url, _, _ = served

    first = requests.get(f"{url}/v2/", timeout=10)
    second = requests.get(f"{url}/v2/", timeout=10)

    assert first.status_code == 503
    assert second.status_code == 401
    assert second.headers["WWW-Authenticate"].startswith(f'Bearer realm="{url}/token"')


def test_serve_stops_on_sigterm(served):
    url, _, process = served

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=10) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/v2/", timeout=2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("429", Fault("status", 1, "", 429)),
        ("502:3:/blobs/", Fault("status", 3, "/blobs/", 502)),
        ("503::^/token$", Fault("status", 1, "^/token$", 503)),
        ("token-expiry:1:2.5", Fault("token-expiry", 1, seconds=2.5)),
        ("cut:2", Fault("cut", 2)),
    ],
)
def test_parse_fault(text, expected):
    assert parse_fault(text) == expected


@pytest.mark.parametrize("text", ["418", "explode", "cut:0", "429:1:("])
def test_parse_fault_rejects(text):
    with pytest.raises(ValueError):
        parse_fault(text)
