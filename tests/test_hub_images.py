"""Image builds of the hub: determinism, layer archives and the expected filesystems."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from peers import require_tool

from pytest_stages.hub import (
    File,
    Hardlink,
    ImageSpec,
    Layer,
    OpaqueWhiteout,
    Platform,
    Symlink,
    Whiteout,
    build_images,
    default_specs,
)
from pytest_stages.hub.layers import FIXED_MTIME


@pytest.fixture(scope="module")
def explorer() -> Path:
    """The binary placed in images as the explorer (busybox-static, also multi-call)."""
    return Path(require_tool("busybox"))


@pytest.fixture(scope="module")
def store(explorer, tmp_path_factory):
    return build_images(default_specs(), explorer, 7, tmp_path_factory.mktemp("images"))


def layer_archives(store, repository, tag, platform="linux/amd64"):
    manifest = json.loads(store.tag(repository, tag).platforms[platform].oci.content)
    for layer in manifest["layers"]:
        blob = store.blob_path(layer["digest"]).read_bytes()
        yield tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob)))


def test_same_seed_same_digests(store, explorer, tmp_path):
    again = build_images(default_specs(), explorer, 7, tmp_path)

    for name, repository in store.repositories.items():
        for tag, built in repository.tags.items():
            other = again.tag(name, tag)
            if built.oci_index:
                assert other.oci_index.content == built.oci_index.content
            for platform, built_platform in built.platforms.items():
                assert (
                    other.platforms[platform].schema1.digest
                    == built_platform.schema1.digest
                )


def test_other_seed_other_content(store, explorer, tmp_path):
    other = build_images(default_specs(), explorer, 8, tmp_path)

    assert other.tag("library/alpine", "latest").oci_index.digest != (
        store.tag("library/alpine", "latest").oci_index.digest
    )
    assert other.expected_file("library/ubuntu", "latest", "/etc/marker") != (
        store.expected_file("library/ubuntu", "latest", "/etc/marker")
    )


def test_tags_have_different_content(store):
    latest = store.expected_file("library/alpine", "latest", "/etc/motd")
    pinned = store.expected_file("library/alpine", "3.20", "/etc/motd")

    assert latest != pinned


def test_platforms_differ_at_top_level(store):
    amd64 = store.expected_top_level("library/alpine", "latest", "linux/amd64")
    arm64 = store.expected_top_level("library/alpine", "latest", "linux/arm64")

    assert [name for name in amd64 if name.startswith("amd64-")]
    assert [name for name in arm64 if name.startswith("arm64-")]
    assert set(amd64) ^ set(arm64)


def test_archives_are_normalized(store):
    for archive in layer_archives(store, "library/alpine", "latest"):
        members = archive.getmembers()
        names = [member.name for member in members if not member.islnk()]
        assert names == sorted(names)
        for member in members:
            assert member.mtime == FIXED_MTIME
            assert member.uid == 0
            assert member.gid == 0


def test_gzip_header_has_no_time(store):
    manifest = json.loads(
        store.tag("library/alpine", "latest").platforms["linux/amd64"].oci.content
    )
    blob = store.blob_path(manifest["layers"][0]["digest"]).read_bytes()

    assert blob[4:8] == b"\0\0\0\0"


def test_config_lists_diff_ids(store):
    built = store.tag("library/alpine", "latest").platforms["linux/arm64"]
    config = json.loads(built.config)
    archives = [
        store.blob_path(layer["digest"]).read_bytes()
        for layer in json.loads(built.oci.content)["layers"]
    ]

    diff_ids = [
        "sha256:" + hashlib.sha256(gzip.decompress(a)).hexdigest() for a in archives
    ]
    assert config["rootfs"]["diff_ids"] == diff_ids
    assert config["architecture"] == "arm64"
    assert config["os"] == "linux"
    assert "variant" not in config
    assert len(config["history"]) == len(archives)


def test_whiteouts_in_archives(store):
    names = set()
    for archive in layer_archives(store, "library/alpine", "latest"):
        names.update(archive.getnames())

    assert "etc/.wh.remove-me" in names
    assert "var/cache/apk/.wh..wh..opq" in names


def test_explorer_hardlinks(store, explorer):
    first = next(layer_archives(store, "library/ubuntu", "latest"))
    members = {member.name: member for member in first.getmembers()}

    assert members["usr/local/bin/docker-explorer"].isfile()
    assert members["usr/local/bin/docker-explorer"].mode == 0o755
    for alias in ("bin/sh", "bin/ls", "bin/cat", "bin/echo"):
        assert members[alias].islnk()
        assert members[alias].linkname == "usr/local/bin/docker-explorer"
    content = store.expected_file("library/ubuntu", "latest", "/bin/sh")
    assert content == explorer.read_bytes()


def test_expected_view_applies_whiteouts(store):
    view = store.expected_view("library/alpine", "latest")

    assert "etc/remove-me" not in view
    assert "var/cache/apk/old-index" not in view
    assert "var/cache/apk/old-directory" not in view
    assert "var/cache/apk/fresh" in view
    assert view["etc/absolute-link"].target == "/etc/os-release"
    assert view["usr/bin/relative-link"].target == "../../etc/motd"
    assert view["etc/motd-hardlink"].content == view["etc/motd"].content


def test_expected_view_of_layered_image(store):
    view = store.expected_view("stagescourse/layered", "latest")
    marker = store.tokens["layered-one"]

    assert "data/drop" not in view
    assert "data/drop/two" not in view
    assert view["data/keep/one"].content == f"one, replaced {marker}\n".encode()
    assert view["data/keep/three"].mode == 0o600


def test_teacher_spec_with_tokens(explorer, tmp_path):
    spec = ImageSpec(
        "teacher/example",
        ("v1",),
        (
            Platform(
                "amd64",
                (
                    Layer((File("/${token:dir}/secret", "${token:secret}\n"),)),
                    Layer(
                        (
                            Whiteout("/${token:dir}/secret"),
                            OpaqueWhiteout("/etc"),
                            Symlink("/link", "${token:dir}"),
                        )
                    ),
                ),
            ),
        ),
    )

    store = build_images([spec], explorer, 1, tmp_path)

    directory = store.tokens["dir"]
    top_level = store.expected_top_level("teacher/example", "v1")
    assert top_level == sorted([directory, "etc", "link"])
    assert store.expected_view("teacher/example", "v1")["etc"].kind == "directory"
    assert store.expected_view("teacher/example", "v1")["link"].target == directory
    assert store.tag("teacher/example", "v1").oci_index is None


def test_unknown_image_raises(store):
    with pytest.raises(KeyError, match="library/nothing:latest"):
        store.expected_top_level("library/nothing", "latest")


def test_hardlink_needs_target_in_layer(explorer, tmp_path):
    layers = (
        Layer((File("/etc/first", "first\n"),)),
        Layer((Hardlink("/etc/second", "/etc/first"),)),
    )
    spec = ImageSpec("teacher/broken", ("v1",), (Platform("amd64", layers),))

    with pytest.raises(ValueError, match="/etc/second points to /etc/first"):
        build_images([spec], explorer, 1, tmp_path)
