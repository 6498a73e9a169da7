"""Layer archives built from spec entries, and the filesystem they produce."""

from __future__ import annotations

import gzip
import io
import posixpath
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .images import (
    Directory,
    Entry,
    Explorer,
    File,
    Hardlink,
    Layer,
    OpaqueWhiteout,
    Symlink,
    TokenValues,
    Whiteout,
)

# 2024-01-01T00:00:00Z, so that archives and their digests depend on the seed only.
FIXED_MTIME = 1704067200
WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"
_TOKEN = re.compile(r"\$\{token:([A-Za-z0-9_.-]+)\}")


@dataclass(frozen=True)
class Member:
    """One archive member: a relative path and what it is."""

    name: str
    kind: str  # "file", "directory", "symlink" or "hardlink"
    mode: int = 0o644
    content: bytes = b""
    target: str = ""


@dataclass(frozen=True)
class Node:
    """A path of the final filesystem; a hard link appears as the file it links."""

    kind: str  # "file", "directory" or "symlink"
    mode: int
    content: bytes = b""
    target: str = ""


@dataclass(frozen=True)
class BuiltLayer:
    tar: bytes
    blob: bytes
    members: tuple[Member, ...]


class LayerBuilder:
    """Turns layers of entries into deterministic gzip tar archives."""

    def __init__(self, tokens: TokenValues, explorer: Path) -> None:
        self.tokens = tokens
        self.explorer = explorer
        self._explorer_bytes: bytes | None = None

    def build(self, layer: Layer) -> BuiltLayer:
        members = self.members(layer)
        tar = _write_tar(members)
        blob = gzip.compress(tar, compresslevel=6, mtime=0)
        return BuiltLayer(tar, blob, members)

    def members(self, layer: Layer) -> tuple[Member, ...]:
        by_name: dict[str, Member] = {}
        for entry in layer.entries:
            for member in self._expand(entry):
                by_name[member.name] = member
        for name in list(by_name):
            for parent in _parents(name):
                by_name.setdefault(parent, Member(parent, "directory", 0o755))
        for member in by_name.values():
            target = by_name.get(member.target)
            if member.kind == "hardlink" and (target is None or target.kind != "file"):
                raise ValueError(
                    f"hard link /{member.name} points to /{member.target}, "
                    "which is not a regular file of the same layer"
                )
        # Hard links come last, because their targets must precede them.
        ordered = sorted(by_name.values(), key=lambda m: (m.kind == "hardlink", m.name))
        return tuple(ordered)

    def expand(self, text: str) -> str:
        return _TOKEN.sub(lambda match: self.tokens.get(match.group(1)), text)

    def _path(self, path: str) -> str:
        return posixpath.normpath(self.expand(path)).lstrip("/")

    def _expand(self, entry: Entry) -> list[Member]:
        if isinstance(entry, File):
            content = entry.content
            if isinstance(content, str):
                content = self.expand(content).encode()
            return [Member(self._path(entry.path), "file", entry.mode, content)]
        if isinstance(entry, Directory):
            return [Member(self._path(entry.path), "directory", entry.mode)]
        if isinstance(entry, Symlink):
            target = self.expand(entry.target)
            return [Member(self._path(entry.path), "symlink", 0o777, target=target)]
        if isinstance(entry, Hardlink):
            target = self._path(entry.target)
            return [Member(self._path(entry.path), "hardlink", 0o644, target=target)]
        if isinstance(entry, Whiteout):
            parent, name = posixpath.split(self._path(entry.path))
            marker = posixpath.join(parent, WHITEOUT_PREFIX + name)
            return [Member(marker, "file", 0o644)]
        if isinstance(entry, OpaqueWhiteout):
            marker = posixpath.join(self._path(entry.path), OPAQUE_WHITEOUT)
            return [Member(marker, "file", 0o644)]
        if isinstance(entry, Explorer):
            return self._explorer_members(entry)
        raise TypeError(f"unknown layer entry {entry!r}")

    def _explorer_members(self, entry: Explorer) -> list[Member]:
        if self._explorer_bytes is None:
            self._explorer_bytes = self.explorer.read_bytes()
        path = self._path(entry.path)
        members = [Member(path, "file", 0o755, self._explorer_bytes)]
        for alias in entry.aliases:
            if entry.hardlinks:
                members.append(
                    Member(self._path(alias), "hardlink", 0o755, target=path)
                )
            else:
                members.append(
                    Member(self._path(alias), "file", 0o755, self._explorer_bytes)
                )
        return members


def apply_layer(view: dict[str, Node], members: tuple[Member, ...]) -> None:
    """Apply one layer's members to `view` as an OCI image unpacker would.

    Whiteouts hide paths of lower layers only, so they are applied first.
    """
    for member in members:
        parent, name = posixpath.split(member.name)
        if name == OPAQUE_WHITEOUT:
            _remove_children(view, parent)
        elif name.startswith(WHITEOUT_PREFIX):
            _remove(view, posixpath.join(parent, name[len(WHITEOUT_PREFIX) :]))
    for member in members:
        if posixpath.basename(member.name).startswith(WHITEOUT_PREFIX):
            continue
        _add(view, member)


def _add(view: dict[str, Node], member: Member) -> None:
    existing = view.get(member.name)
    if member.kind == "directory":
        if existing is None or existing.kind != "directory":
            _remove(view, member.name)
        view[member.name] = Node("directory", member.mode)
        return
    _remove(view, member.name)
    if member.kind == "file":
        view[member.name] = Node("file", member.mode, member.content)
    elif member.kind == "symlink":
        view[member.name] = Node("symlink", 0o777, target=member.target)
    else:
        view[member.name] = view[member.target]


def _remove(view: dict[str, Node], path: str) -> None:
    view.pop(path, None)
    _remove_children(view, path)


def _remove_children(view: dict[str, Node], path: str) -> None:
    prefix = path + "/"
    for name in [n for n in view if n.startswith(prefix)]:
        del view[name]


def _parents(name: str) -> list[str]:
    parts = name.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _write_tar(members: tuple[Member, ...]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.mode = member.mode
            info.mtime = FIXED_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            data = None
            if member.kind == "file":
                info.size = len(member.content)
                data = io.BytesIO(member.content)
            elif member.kind == "directory":
                info.type = tarfile.DIRTYPE
            elif member.kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = member.target
            else:
                info.type = tarfile.LNKTYPE
                info.linkname = member.target
            archive.addfile(info, data)
    return buffer.getvalue()
