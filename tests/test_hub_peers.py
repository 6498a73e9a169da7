"""The peer helpers: a missing client skips, or fails when peers are required."""

from __future__ import annotations

import pytest
from peers import REQUIRE_PEERS_VARIABLE, require_tool


def test_missing_tool_skips(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv(REQUIRE_PEERS_VARIABLE, raising=False)

    with pytest.raises(pytest.skip.Exception, match="Debian package skopeo"):
        require_tool("skopeo")


def test_missing_tool_fails_when_required(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv(REQUIRE_PEERS_VARIABLE, "1")

    with pytest.raises(pytest.fail.Exception, match="Debian package docker.io"):
        require_tool("dockerd")


def test_present_tool_returns_path(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")

    assert require_tool("sh").endswith("/sh")
