"""Choosing a session container backend, its messages, and set-up errors."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from pathlib import Path

import pytest

from pytest_stages.container import (
    NoBackendError,
    SessionSetupError,
    SessionSpec,
    select_backend,
)
from pytest_stages.container.docker import ContainerBackend
from pytest_stages.container.session import (
    SESSION_DIR_PREFIX,
    prepare_session_dir,
    session_environment,
)
from pytest_stages.container.userns import userns_unavailable_reason

linux_root = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0,
    reason="needs root on Linux",
)


def test_unknown_backend_rejected():
    with pytest.raises(ValueError, match="unknown session container backend 'lxc'"):
        select_backend("lxc")


@linux_root
def test_auto_picks_root_as_root():
    backend = select_backend("auto")

    assert backend.name == "root"
    assert "picked automatically" in backend.reason


@linux_root
def test_userns_probe_works_here():
    assert userns_unavailable_reason() is None


def test_missing_cli_explains_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(NoBackendError) as raised:
        select_backend("docker")

    message = str(raised.value)
    assert message.startswith("The session container backend 'docker' cannot run here:")
    assert "docker: the `docker` command was not found; install Docker" in message


def test_docker_daemon_down_explained(monkeypatch, tmp_path):
    # A docker command that fails the way the real one does without a daemon.
    fake = tmp_path / "docker"
    fake.write_text(
        "#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///x.sock.' >&2\n"
        "exit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(NoBackendError) as raised:
        select_backend("docker")

    assert "the docker daemon is not responding (Cannot connect" in str(raised.value)


def test_docker_command_line(tmp_path):
    backend = ContainerBackend("docker", "test", image="example-image")
    cache = tmp_path / "cache"
    cache.mkdir()
    spec = SessionSpec(
        command=[sys.executable, "-m", "pytest", "--stage", "2"],
        program_dir=tmp_path,
        writable_paths=[cache, tmp_path / "missing"],
        hub_hosts=["registry-1.docker.io"],
        env={"NAME": "value"},
    )

    argv = backend.command_line(spec, "pytest-stages-test")

    assert argv[:3] == ["docker", "run", "--rm"]
    assert "--privileged" not in argv
    assert "--init" in argv
    assert argv[argv.index("--network") + 1] == "none"
    assert argv[argv.index("--pull") + 1] == "never"
    cap_adds = [argv[i + 1] for i, word in enumerate(argv) if word == "--cap-add"]
    assert cap_adds == ["SYS_ADMIN", "NET_ADMIN"]
    assert "seccomp=unconfined" in argv
    assert "apparmor=unconfined" in argv
    assert f"{tmp_path}:{tmp_path}" in argv
    assert argv[argv.index("-w") + 1] == str(tmp_path)
    assert f"{cache}:{cache}" in argv
    assert not any("missing" in word for word in argv)
    assert "NAME=value" in argv
    inner = argv[argv.index("example-image") + 1 :]
    assert inner[:5] == [
        "python3",
        "-m",
        "pytest_stages.container",
        "--backend",
        "root",
    ]
    assert inner[inner.index("--hub-host") + 1] == "registry-1.docker.io"
    assert inner[inner.index("--") + 1 :] == ["python3", "-m", "pytest", "--stage", "2"]


def test_image_from_environment(monkeypatch):
    monkeypatch.setenv("PYTEST_STAGES_IMAGE", "my-course-image")

    assert ContainerBackend("podman", "test").image == "my-course-image"


@linux_root
def test_root_run_returns_exit_status(tmp_path):
    backend = select_backend("root")
    mask_before = signal.pthread_sigmask(signal.SIG_BLOCK, [])

    status = backend.run(
        SessionSpec(command=["sh", "-c", "exit 7"], program_dir=tmp_path)
    )

    assert status == 7
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == mask_before


@linux_root
def test_missing_command_names_step(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    backend = select_backend("root")
    spec = SessionSpec(command=["no-such-command-here"], program_dir=tmp_path)

    with pytest.raises(SessionSetupError) as raised:
        backend.run(spec)

    message = str(raised.value)
    assert "step 'run no-such-command-here'" in message
    assert "(ENOENT)" in message
    assert not [p for p in os.listdir(tmp_path) if p.startswith(SESSION_DIR_PREFIX)]


@linux_root
def test_missing_program_dir_names_step(tmp_path):
    backend = select_backend("root")
    spec = SessionSpec(command=["true"], program_dir=tmp_path / "missing")

    with pytest.raises(SessionSetupError, match=r"step 'open .*missing'.*\(ENOENT\)"):
        backend.run(spec)


def test_main_reports_setup_error(tmp_path, capfd):
    from pytest_stages.container.__main__ import main

    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("needs root on Linux")

    status = main(
        ["--backend", "root", "--program-dir", str(tmp_path), "--", "no-such-x"]
    )

    assert status == 125
    assert (
        "pytest-stages: session container set-up failed at step"
        in capfd.readouterr().err
    )


def test_missing_explorer_leaves_no_folder(tmp_path, monkeypatch):
    # tempfile reads TMPDIR once and keeps the result in tempfile.tempdir.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    spec = SessionSpec(
        command=["true"], program_dir=tmp_path, explorer=tmp_path / "no-explorer"
    )

    with pytest.raises(SessionSetupError, match="'make the session folder'"):
        prepare_session_dir(spec)

    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("tmpdir", "kept"),
    [("/tmp/outer-tmp", True), ("/var/tmp", True), ("/opt/outer-tmp", False)],
)
def test_tmpdir_kept_only_when_writable(tmp_path, monkeypatch, tmpdir, kept):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    files = prepare_session_dir(SessionSpec(command=["true"], program_dir=tmp_path))
    monkeypatch.setenv("TMPDIR", tmpdir)

    env = session_environment(SessionSpec(["true"], tmp_path), "root", files)

    assert ("TMPDIR" in env) == kept
    assert env["PYTEST_STAGES_INSIDE"] == "root"
    assert env["PYTEST_STAGES_SESSION_DIR"] == str(files.path)


def test_hosts_file_puts_hub_first(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    spec = SessionSpec(["true"], tmp_path, hub_hosts=["registry-1.docker.io"])

    hosts = prepare_session_dir(spec).hosts.read_text().splitlines()

    # The C library takes the first line that names a host.
    assert hosts[1] == "127.0.0.1 registry-1.docker.io"
    assert hosts[2] == "::1 registry-1.docker.io"
    assert hosts[3:] == Path("/etc/hosts").read_text().splitlines()
