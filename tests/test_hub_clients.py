"""The hub against real clients: skopeo, umoci, Docker Engine and the CNCF registry.

Every client is pointed at 127.0.0.1:PORT (the hub in loopback mode), so
nothing reaches the real Docker Hub.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
import requests
from peers import (
    docker_trusts,
    require_tool,
    running_cncf_registry,
    running_docker_engine,
)

from pytest_stages.hub import Hub, build_images, default_specs
from pytest_stages.hub import manifests as m

ALPINE = "library/alpine"
TIMEOUT = 120  # seconds for one client command


@pytest.fixture(scope="module")
def explorer() -> Path:
    """The binary placed in images as the explorer; busybox-static takes its place."""
    return Path(require_tool("busybox")).resolve()


@pytest.fixture(scope="module")
def store(explorer, tmp_path_factory):
    return build_images(
        default_specs(), explorer, 23, tmp_path_factory.mktemp("images")
    )


@pytest.fixture(scope="module")
def hub(store, tmp_path_factory):
    """A loopback hub over HTTPS; its folder of `ca.crt` serves as skopeo's cert dir."""
    with Hub(
        store, tls_dir=tmp_path_factory.mktemp("tls"), loopback=True
    ).start() as running:
        yield running


@pytest.fixture(autouse=True)
def no_faults(hub):
    yield
    hub.faults.clear()


def run(*command: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} exited with {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def skopeo(
    hub: Hub, *arguments: str, check: bool = True
) -> subprocess.CompletedProcess:
    return run(require_tool("skopeo"), *arguments, check=check)


def hub_reference(hub: Hub, name: str) -> str:
    return f"docker://127.0.0.1:{hub.port}/{name}"


def copy_and_unpack(hub, tmp_path, name, *options) -> Path:
    """Copy an image from the hub into an OCI layout and unpack it with umoci."""
    umoci = require_tool("umoci")
    layout = tmp_path / "layout"
    skopeo(
        hub,
        "copy",
        *options,
        f"--src-cert-dir={hub.ca_path.parent}",
        hub_reference(hub, name),
        f"oci:{layout}:image",
    )
    bundle = tmp_path / "bundle"
    run(umoci, "unpack", "--image", f"{layout}:image", str(bundle))
    return bundle / "rootfs"


def assert_rootfs_matches(rootfs: Path, view: dict) -> None:
    """Compare an unpacked root filesystem with the hub's expected view."""
    found = {str(path.relative_to(rootfs)) for path in rootfs.rglob("*")}
    assert found == set(view)
    for name, node in view.items():
        path = rootfs / name
        if node.kind == "symlink":
            assert path.is_symlink(), name
            assert os.readlink(path) == node.target, name
        elif node.kind == "directory":
            assert not path.is_symlink(), name
            assert path.is_dir(), name
        else:
            assert path.read_bytes() == node.content, name
            assert path.stat().st_mode & 0o7777 == node.mode, name


# skopeo and umoci


def test_skopeo_inspect(hub):
    result = skopeo(
        hub,
        "inspect",
        f"--cert-dir={hub.ca_path.parent}",
        hub_reference(hub, f"{ALPINE}:latest"),
    )

    details = json.loads(result.stdout)
    built = hub.store.tag(ALPINE, "latest")
    assert details["Digest"] == built.oci_index.digest
    assert details["Architecture"] == "amd64"
    assert details["RepoTags"] == ["3.20", "latest"]
    layers = json.loads(built.platforms["linux/amd64"].oci.content)["layers"]
    assert details["Layers"] == [layer["digest"] for layer in layers]


def test_skopeo_inspect_raw(hub):
    result = skopeo(
        hub,
        "inspect",
        "--raw",
        f"--cert-dir={hub.ca_path.parent}",
        hub_reference(hub, f"{ALPINE}:latest"),
    )

    assert result.stdout.encode() == hub.store.tag(ALPINE, "latest").oci_index.content


def test_skopeo_inspect_arm64(hub):
    result = skopeo(
        hub,
        "--override-arch=arm64",
        "inspect",
        f"--cert-dir={hub.ca_path.parent}",
        hub_reference(hub, f"{ALPINE}:3.20"),
    )

    details = json.loads(result.stdout)
    layers = json.loads(
        hub.store.tag(ALPINE, "3.20").platforms["linux/arm64"].oci.content
    )
    assert details["Architecture"] == "arm64"
    assert details["Layers"] == [layer["digest"] for layer in layers["layers"]]


def test_skopeo_without_library_fails(hub):
    result = skopeo(
        hub,
        "inspect",
        f"--cert-dir={hub.ca_path.parent}",
        hub_reference(hub, "alpine:latest"),
        check=False,
    )

    assert result.returncode != 0
    assert "unauthorized" in result.stderr.lower() or "denied" in result.stderr.lower()


def test_skopeo_sees_rate_limit(hub):
    hub.faults.too_many_requests(count=20, path="/manifests/")

    result = skopeo(
        hub,
        "inspect",
        "--retry-times=0",
        f"--cert-dir={hub.ca_path.parent}",
        hub_reference(hub, f"{ALPINE}:latest"),
        check=False,
    )

    assert result.returncode != 0
    assert "toomanyrequests" in result.stderr.lower()


def test_skopeo_copy_umoci_unpack(hub, tmp_path):
    hub.clear_requests_log()

    rootfs = copy_and_unpack(hub, tmp_path, f"{ALPINE}:latest")

    view = hub.store.expected_view(ALPINE, "latest", "linux/amd64")
    assert_rootfs_matches(rootfs, view)
    assert not (rootfs / "etc/remove-me").exists()
    assert sorted(p.name for p in (rootfs / "var/cache/apk").iterdir()) == ["fresh"]
    assert (rootfs / "etc/motd").stat().st_ino == (
        rootfs / "etc/motd-hardlink"
    ).stat().st_ino
    assert (rootfs / "bin/sh").stat().st_ino == (
        rootfs / "usr/local/bin/docker-explorer"
    ).stat().st_ino
    storage = [e for e in hub.requests_log if e.host == f"localhost:{hub.port}"]
    assert len(storage) == 4  # three layers and the config
    assert not any(entry.authorization for entry in storage)
    assert {entry.status for entry in storage} == {200}


def test_skopeo_copy_arm64(hub, tmp_path):
    rootfs = copy_and_unpack(hub, tmp_path, f"{ALPINE}:latest", "--override-arch=arm64")

    top_level = sorted(path.name for path in rootfs.iterdir())
    assert top_level == hub.store.expected_top_level(ALPINE, "latest", "linux/arm64")
    assert top_level != hub.store.expected_top_level(ALPINE, "latest", "linux/amd64")


def test_skopeo_copy_layered(hub, tmp_path):
    rootfs = copy_and_unpack(hub, tmp_path, "stagescourse/layered:v1")

    assert_rootfs_matches(rootfs, hub.store.expected_view("stagescourse/layered", "v1"))
    assert not (rootfs / "data/drop").exists()


def test_skopeo_copy_with_cut_blob(hub, tmp_path):
    hub.faults.cut_blobs(count=1)

    result = skopeo(
        hub,
        "copy",
        "--retry-times=0",
        f"--src-cert-dir={hub.ca_path.parent}",
        hub_reference(hub, f"{ALPINE}:latest"),
        f"oci:{tmp_path / 'layout'}:image",
        check=False,
    )

    cut = [e for e in hub.requests_log if e.note.startswith("connection cut")]
    assert len(cut) == 1
    assert result.returncode != 0


# Docker Engine


@pytest.fixture(scope="module")
def docker_engine(tmp_path_factory):
    with running_docker_engine(tmp_path_factory.mktemp("docker")) as engine:
        yield engine


@pytest.fixture
def trusted_hub(hub):
    with docker_trusts(hub.ca_path, f"127.0.0.1:{hub.port}"):
        yield hub


def test_docker_pull(docker_engine, trusted_hub, tmp_path):
    hub = trusted_hub
    image = f"127.0.0.1:{hub.port}/{ALPINE}:latest"
    hub.clear_requests_log()

    docker_engine.run("pull", image, timeout=TIMEOUT)

    details = json.loads(docker_engine.run("image", "inspect", image).stdout)[0]
    built = hub.store.tag(ALPINE, "latest").platforms["linux/amd64"]
    config = json.loads(built.config)
    assert details["Architecture"] == "amd64"
    assert details["RootFS"]["Layers"] == config["rootfs"]["diff_ids"]
    assert details["Id"] == m.sha256_digest(built.config)
    storage = [e for e in hub.requests_log if e.host == f"localhost:{hub.port}"]
    assert storage
    assert not any(entry.authorization for entry in storage)
    manifests = [
        e for e in hub.requests_log if "/manifests/" in e.path and e.status == 200
    ]
    assert m.OCI_INDEX in manifests[0].accept


def test_docker_export_matches_view(docker_engine, trusted_hub, tmp_path):
    hub = trusted_hub
    image = f"127.0.0.1:{hub.port}/{ALPINE}:3.20"
    docker_engine.run("pull", image, timeout=TIMEOUT)
    container = docker_engine.run("create", image).stdout.strip()
    archive = tmp_path / "export.tar"

    try:
        docker_engine.run("export", "--output", str(archive), container)
    finally:
        docker_engine.run("rm", container, check=False)

    with tarfile.open(archive) as exported:
        names = {name.rstrip("/") for name in exported.getnames()}
        motd = exported.extractfile("etc/motd").read()
    view = hub.store.expected_view(ALPINE, "3.20")
    assert set(view) <= names
    assert "etc/remove-me" not in names
    assert "var/cache/apk/old-index" not in names
    assert motd == view["etc/motd"].content


def test_docker_run_explorer(docker_engine, trusted_hub):
    image = f"127.0.0.1:{trusted_hub.port}/library/ubuntu:latest"
    docker_engine.run("pull", image, timeout=TIMEOUT)

    result = docker_engine.run(
        "run",
        "--rm",
        "--network=none",
        image,
        "/bin/cat",
        "/etc/marker",
        timeout=TIMEOUT,
    )

    expected = trusted_hub.store.expected_file(
        "library/ubuntu", "latest", "/etc/marker"
    )
    assert result.stdout.encode() == expected


def test_docker_pull_without_library(docker_engine, trusted_hub):
    result = docker_engine.run(
        "pull",
        f"127.0.0.1:{trusted_hub.port}/alpine:latest",
        check=False,
        timeout=TIMEOUT,
    )

    assert result.returncode != 0
    assert "pull access denied" in result.stderr


# The CNCF registry with the hub as its token service


@pytest.fixture(scope="module")
def token_hub(store):
    """A plain HTTP hub whose tokens also grant push, as a CNCF registry needs."""
    with Hub(store, loopback=True, token_actions=("pull", "push")).start() as running:
        yield running


@pytest.fixture(scope="module")
def cncf_registry(token_hub, tmp_path_factory):
    with running_cncf_registry(
        token_hub, tmp_path_factory.mktemp("registry")
    ) as registry:
        yield registry


def registry_token(hub: Hub, scope: str) -> str:
    response = requests.get(
        hub.realm(),
        params={"service": "registry.docker.io", "scope": scope},
        timeout=10,
    )
    return response.json()["token"]


def test_cncf_registry_push_and_pull(token_hub, cncf_registry, tmp_path):
    source = f"docker://127.0.0.1:{token_hub.port}/{ALPINE}:latest"
    target = f"docker://{cncf_registry.address}/course/alpine:latest"

    skopeo(
        token_hub,
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        source,
        target,
    )
    result = skopeo(token_hub, "inspect", "--tls-verify=false", target)

    details = json.loads(result.stdout)
    layers = json.loads(
        token_hub.store.tag(ALPINE, "latest").platforms["linux/amd64"].oci.content
    )
    assert details["Layers"] == [layer["digest"] for layer in layers["layers"]]
    tokens = [e for e in token_hub.requests_log if e.path == "/token"]
    assert any(
        "course%2Falpine" in e.query or "course/alpine" in e.query for e in tokens
    )


def test_cncf_registry_checks_scope(token_hub, cncf_registry):
    skopeo(
        token_hub,
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        f"docker://127.0.0.1:{token_hub.port}/stagescourse/layered:latest",
        f"docker://{cncf_registry.address}/course/layered:latest",
    )
    url = f"{cncf_registry.url}/v2/course/layered/manifests/latest"
    accept = {"Accept": m.DOCKER_MANIFEST}

    right = registry_token(token_hub, "repository:course/layered:pull")
    wrong = registry_token(token_hub, "repository:course/other:pull")
    allowed = requests.get(
        url, headers=accept | {"Authorization": f"Bearer {right}"}, timeout=10
    )
    rejected = requests.get(
        url, headers=accept | {"Authorization": f"Bearer {wrong}"}, timeout=10
    )
    anonymous = requests.get(url, headers=accept, timeout=10)

    assert allowed.status_code == 200
    assert rejected.status_code == 401
    assert "insufficient_scope" in rejected.headers["WWW-Authenticate"]
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith(
        f'Bearer realm="{token_hub.realm()}",service="registry.docker.io"'
    )


def test_cncf_registry_rejects_other_signer(store, token_hub, cncf_registry):
    with Hub(store, loopback=True).start() as stranger:
        token = registry_token(stranger, "repository:course/alpine:pull")

    response = requests.get(
        f"{cncf_registry.url}/v2/course/alpine/tags/list",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )

    assert response.status_code == 401


def test_solution_pulls_from_cncf_registry(
    token_hub, cncf_registry, tmp_path, monkeypatch
):
    from solution.registry import pull_image

    target = f"{cncf_registry.address}/course/layered:latest"
    skopeo(
        token_hub,
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        hub_reference(token_hub, "stagescourse/layered:latest"),
        f"docker://{target}",
    )
    monkeypatch.setenv("SOLUTION_INSECURE_REGISTRIES", cncf_registry.address)
    root = tmp_path / "root"
    root.mkdir()

    pull_image(target, str(root))

    store = token_hub.store
    one = store.expected_file("stagescourse/layered", "latest", "/data/keep/one")
    assert (root / "data/keep/one").read_bytes() == one
    assert sorted(p.name for p in (root / "data").iterdir()) == [
        "keep",
        "link-to-keep",
    ]
    assert not (root / "data/drop").exists()
    pulls = [e for e in token_hub.requests_log if e.path == "/token"]
    assert any("course%2Flayered" in e.query for e in pulls)
