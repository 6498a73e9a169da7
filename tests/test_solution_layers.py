"""Layer extraction of the reference solution against hostile tar archives."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from solution import layers


@dataclass
class Entry:
    """One tar entry to write into a test layer."""

    name: str
    kind: bytes = tarfile.REGTYPE
    data: bytes = b""
    linkname: str = ""
    mode: int = 0o644


def file(name: str, data: bytes = b"data", mode: int = 0o644) -> Entry:
    return Entry(name, tarfile.REGTYPE, data, mode=mode)


def folder(name: str, mode: int = 0o755) -> Entry:
    return Entry(name, tarfile.DIRTYPE, mode=mode)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, tarfile.SYMTYPE, linkname=target, mode=0o777)


def hardlink(name: str, target: str) -> Entry:
    return Entry(name, tarfile.LNKTYPE, linkname=target)


def build_layer(entries: list[Entry], compress: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = entry.kind
            info.mode = entry.mode
            info.linkname = entry.linkname
            info.size = len(entry.data)
            archive.addfile(info, io.BytesIO(entry.data) if entry.data else None)
    data = buffer.getvalue()
    return gzip.compress(data) if compress else data


class Sandbox:
    """A root folder with a sentinel folder next to it that must stay untouched."""

    def __init__(self, base: Path):
        self.base = base
        self.root = base / "root"
        self.sentinel = base / "sentinel"
        self.layer_dir = base / "layers"
        for path in (self.root, self.sentinel, self.layer_dir):
            path.mkdir()
        (self.sentinel / "keep").write_text("original")
        self.count = 0

    def apply(self, entries: list[Entry], compress: bool = True) -> None:
        self.count += 1
        path = self.layer_dir / f"layer{self.count}.tar"
        path.write_bytes(build_layer(entries, compress))
        layers.extract_layer(str(path), str(self.root))

    def inside(self, absolute: Path | str) -> Path:
        """Return where an absolute host path ends up inside the root."""
        return self.root / str(absolute).lstrip("/")

    def assert_outside_untouched(self) -> None:
        outside = sorted(p.name for p in self.base.iterdir())
        assert outside == ["layers", "root", "sentinel"]
        assert sorted(p.name for p in self.sentinel.iterdir()) == ["keep"]
        assert (self.sentinel / "keep").read_text() == "original"
        assert (self.sentinel / "keep").stat().st_nlink == 1


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path)


def test_dotdot_names_stay_inside(sandbox: Sandbox) -> None:
    sandbox.apply(
        [
            file("../sentinel/pwned"),
            file("a/../../../sentinel/pwned2"),
            file("./../../base-file"),
        ]
    )

    assert (sandbox.root / "sentinel" / "pwned").read_bytes() == b"data"
    assert (sandbox.root / "sentinel" / "pwned2").is_file()
    assert (sandbox.root / "base-file").is_file()
    sandbox.assert_outside_untouched()


def test_absolute_names_stay_inside(sandbox: Sandbox) -> None:
    sandbox.apply([file(f"{sandbox.sentinel}/pwned")])

    assert sandbox.inside(sandbox.sentinel / "pwned").is_file()
    sandbox.assert_outside_untouched()


def test_write_through_absolute_symlink(sandbox: Sandbox) -> None:
    sandbox.apply([symlink("escape", str(sandbox.sentinel)), file("escape/pwned")])

    assert os.readlink(sandbox.root / "escape") == str(sandbox.sentinel)
    assert sandbox.inside(sandbox.sentinel / "pwned").is_file()
    sandbox.assert_outside_untouched()


def test_write_through_relative_symlink(sandbox: Sandbox) -> None:
    sandbox.apply(
        [
            folder("deep/"),
            symlink("deep/up", "../../../.."),
            file("deep/up/sentinel/pwned"),
        ]
    )

    assert os.readlink(sandbox.root / "deep" / "up") == "../../../.."
    assert (sandbox.root / "sentinel" / "pwned").is_file()
    sandbox.assert_outside_untouched()


def test_symlink_to_root_from_earlier_layer(sandbox: Sandbox) -> None:
    sandbox.apply([symlink("rootlink", "/"), symlink("uplink", "..")])
    relative_sentinel = str(sandbox.sentinel).lstrip("/")
    sandbox.apply(
        [
            file(f"rootlink/{relative_sentinel}/through-root"),
            file("uplink/sentinel/through-up"),
            file("uplink/uplink/../sentinel/through-both"),
        ]
    )

    assert sandbox.inside(sandbox.sentinel / "through-root").is_file()
    assert (sandbox.root / "sentinel" / "through-up").is_file()
    assert (sandbox.root / "sentinel" / "through-both").is_file()
    sandbox.assert_outside_untouched()


def test_symlink_loop_rejected(sandbox: Sandbox) -> None:
    sandbox.apply([symlink("loop", "loop")])

    with pytest.raises(layers.LayerError, match="too many levels of symlinks"):
        sandbox.apply([file("loop/x")])
    sandbox.assert_outside_untouched()


def test_final_symlink_replaced_not_followed(sandbox: Sandbox) -> None:
    sandbox.apply([symlink("target", str(sandbox.sentinel / "keep"))])
    sandbox.apply([file("target", b"new")])

    assert not (sandbox.root / "target").is_symlink()
    assert (sandbox.root / "target").read_bytes() == b"new"
    sandbox.assert_outside_untouched()


def test_hardlink_shares_inode(sandbox: Sandbox) -> None:
    sandbox.apply(
        [file("bin/tool", b"binary", 0o755), hardlink("bin/alias", "bin/tool")]
    )

    tool = (sandbox.root / "bin" / "tool").stat()
    alias = (sandbox.root / "bin" / "alias").stat()
    assert tool.st_ino == alias.st_ino
    assert tool.st_nlink == 2
    sandbox.assert_outside_untouched()


def test_hardlink_to_outside_rejected(sandbox: Sandbox) -> None:
    with pytest.raises(layers.LayerError, match="missing"):
        sandbox.apply([hardlink("stolen", "../sentinel/keep")])
    sandbox.apply([symlink("escape", str(sandbox.sentinel))])
    with pytest.raises(layers.LayerError, match="missing"):
        sandbox.apply([hardlink("stolen", "escape/keep")])

    assert not (sandbox.root / "stolen").exists()
    sandbox.assert_outside_untouched()


def test_whiteout_removes_lower_entries(sandbox: Sandbox) -> None:
    sandbox.apply([file("a/x"), file("a/y"), file("b/z"), symlink("c", "a")])
    sandbox.apply([file("a/.wh.x"), file(".wh.b"), file(".wh.c")])

    assert sorted(os.listdir(sandbox.root)) == ["a"]
    assert sorted(os.listdir(sandbox.root / "a")) == ["y"]
    sandbox.assert_outside_untouched()


def test_opaque_whiteout_keeps_new_entries(sandbox: Sandbox) -> None:
    sandbox.apply([file("d/old"), folder("d/sub/"), file("d/sub/deeper"), file("e")])
    sandbox.apply([folder("d/"), file("d/.wh..wh..opq"), file("d/new")])

    assert sorted(os.listdir(sandbox.root / "d")) == ["new"]
    assert (sandbox.root / "e").is_file()
    sandbox.assert_outside_untouched()


def test_whiteout_through_symlink_stays_inside(sandbox: Sandbox) -> None:
    sandbox.apply([symlink("escape", str(sandbox.sentinel)), symlink("up", "..")])
    sandbox.apply(
        [
            file("escape/.wh.keep"),
            file("up/sentinel/.wh.keep"),
            file("escape/.wh..wh..opq"),
        ]
    )

    sandbox.assert_outside_untouched()


def test_file_replaced_by_folder_and_back(sandbox: Sandbox) -> None:
    sandbox.apply([file("p", b"first")])
    sandbox.apply([folder("p/"), file("p/inner")])

    assert (sandbox.root / "p" / "inner").is_file()

    sandbox.apply([file("p", b"again")])

    assert (sandbox.root / "p").read_bytes() == b"again"
    sandbox.assert_outside_untouched()


def test_folder_replaced_by_symlink(sandbox: Sandbox) -> None:
    sandbox.apply([folder("lib/"), file("lib/libc.so")])
    sandbox.apply([symlink("lib", "usr/lib")])

    assert os.readlink(sandbox.root / "lib") == "usr/lib"
    sandbox.assert_outside_untouched()


def test_modes_kept(sandbox: Sandbox) -> None:
    sandbox.apply(
        [
            folder("ro/", 0o555),
            file("ro/inside", mode=0o600),
            file("suid", mode=0o4755),
        ]
    )

    assert stat.S_IMODE((sandbox.root / "ro").stat().st_mode) == 0o555
    assert stat.S_IMODE((sandbox.root / "ro" / "inside").stat().st_mode) == 0o600
    assert stat.S_IMODE((sandbox.root / "suid").stat().st_mode) == 0o4755


def test_folder_mode_not_applied_through_later_symlink(sandbox: Sandbox) -> None:
    os.chmod(sandbox.sentinel, 0o755)
    sandbox.apply([folder("x/", 0o700), symlink("x", str(sandbox.base))])
    sandbox.apply([folder("y/"), folder("y/sentinel/", 0o700), symlink("y", "..")])

    assert stat.S_IMODE(sandbox.sentinel.stat().st_mode) == 0o755
    sandbox.assert_outside_untouched()


def test_plain_tar_and_fifo(sandbox: Sandbox) -> None:
    sandbox.apply([file("plain"), Entry("pipe", tarfile.FIFOTYPE)], compress=False)

    assert (sandbox.root / "plain").is_file()
    assert stat.S_ISFIFO(os.lstat(sandbox.root / "pipe").st_mode)


def test_zstd_layer_rejected(sandbox: Sandbox) -> None:
    path = sandbox.layer_dir / "zstd"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 64)

    with pytest.raises(layers.LayerError, match="zstd"):
        layers.extract_layer(str(path), str(sandbox.root))


def test_resolve_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    os.symlink("/", tmp_path / "a" / "root")
    os.symlink("../../..", tmp_path / "a" / "up")

    assert layers.resolve(str(tmp_path), "/../../etc") == str(tmp_path / "etc")
    assert layers.resolve(str(tmp_path), "a/root/etc") == str(tmp_path / "etc")
    assert layers.resolve(str(tmp_path), "a/up/etc") == str(tmp_path / "etc")
    assert layers.resolve(str(tmp_path), "a/up") == str(tmp_path / "a" / "up")
    assert layers.resolve(str(tmp_path), "a/up", follow_last=True) == str(tmp_path)
