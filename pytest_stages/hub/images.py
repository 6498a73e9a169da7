"""Declarative image specs, and the images the hub serves by default.

A spec describes an image as layers of entries. `build_images` turns specs
into blobs and manifests. Text content, paths and link targets may contain
`${token:NAME}`, which the build replaces with a random value drawn from the
session seed, the same value for the same NAME everywhere in one build.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

EXPLORER_PATH = "/usr/local/bin/docker-explorer"
EXPLORER_ALIASES = ("/bin/sh", "/bin/ls", "/bin/cat", "/bin/echo")


@dataclass(frozen=True)
class File:
    """A regular file. `str` content is expanded for tokens, `bytes` is kept as is."""

    path: str
    content: bytes | str = b""
    mode: int = 0o644


@dataclass(frozen=True)
class Directory:
    path: str
    mode: int = 0o755


@dataclass(frozen=True)
class Symlink:
    """A symbolic link. A target starting with `/` is absolute, others relative."""

    path: str
    target: str


@dataclass(frozen=True)
class Hardlink:
    """A hard link to `target`, an absolute path of a file in the same layer."""

    path: str
    target: str


@dataclass(frozen=True)
class Whiteout:
    """Deletes `path` of a lower layer, stored as `.wh.NAME` beside it."""

    path: str


@dataclass(frozen=True)
class OpaqueWhiteout:
    """Hides everything lower layers put in the directory `path`."""

    path: str


@dataclass(frozen=True)
class Explorer:
    """The explorer binary at `path`, with `aliases` as hard links or copies to it."""

    path: str = EXPLORER_PATH
    aliases: tuple[str, ...] = EXPLORER_ALIASES
    hardlinks: bool = True


Entry = File | Directory | Symlink | Hardlink | Whiteout | OpaqueWhiteout | Explorer


@dataclass(frozen=True)
class Layer:
    entries: tuple[Entry, ...]
    created_by: str = ""


@dataclass(frozen=True)
class Platform:
    """One platform of an image: its layers and its run configuration."""

    architecture: str
    layers: tuple[Layer, ...]
    os: str = "linux"
    variant: str | None = None
    cmd: tuple[str, ...] = ("/bin/sh",)
    env: tuple[str, ...] = (
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    )

    @property
    def name(self) -> str:
        """The platform as `os/architecture[/variant]`, such as `linux/amd64`."""
        parts = [self.os, self.architecture] + ([self.variant] if self.variant else [])
        return "/".join(parts)


@dataclass(frozen=True)
class ImageSpec:
    """An image of `repository` served under each of `tags`.

    With more than one platform, or with `index=True`, a tag resolves to an OCI
    index and a Docker manifest list; otherwise to a single manifest.
    """

    repository: str
    tags: tuple[str, ...]
    platforms: tuple[Platform, ...]
    index: bool | None = None
    attestations: bool = True

    @property
    def multi_platform(self) -> bool:
        return len(self.platforms) > 1 if self.index is None else self.index


def default_specs() -> list[ImageSpec]:
    """Return the built-in images: ubuntu, two alpine tags and a layered image."""
    return [
        _ubuntu(),
        _alpine("latest"),
        _alpine("3.20"),
        _layered(),
    ]


def _base_layer(name: str) -> Layer:
    entries = (
        Directory("/bin"),
        Directory("/etc"),
        Directory("/root", 0o700),
        Directory("/tmp", 0o1777),
        Directory("/usr/local/bin"),
        Directory("/var"),
        File("/etc/os-release", f'NAME="{name}"\nID=pytest-stages\n'),
        Explorer(),
    )
    return Layer(entries, created_by=f"ADD {name} base")


def _ubuntu() -> ImageSpec:
    def platform(architecture: str) -> Platform:
        top = f"/{architecture}-${{token:ubuntu-{architecture}-directory}}"
        marker = Layer(
            (
                File("/etc/marker", "${token:ubuntu-marker}\n"),
                Directory(top),
                File(f"{top}/platform", f"linux/{architecture}\n"),
            ),
            created_by="RUN write the marker",
        )
        return Platform(architecture, (_base_layer("ubuntu"), marker))

    return ImageSpec(
        "library/ubuntu", ("latest",), (platform("amd64"), platform("arm64"))
    )


def _alpine(tag: str) -> ImageSpec:
    def platform(architecture: str) -> Platform:
        key = f"alpine-{tag}-{architecture}"
        changes = Layer(
            (
                File("/etc/motd", f"motd of {tag} ${{token:{key}-motd}}\n"),
                Hardlink("/etc/motd-hardlink", "/etc/motd"),
                Whiteout("/etc/remove-me"),
                OpaqueWhiteout("/var/cache/apk"),
                File("/var/cache/apk/fresh", "after the opaque whiteout\n"),
                Symlink("/usr/bin/relative-link", "../../etc/motd"),
                Symlink("/etc/absolute-link", "/etc/os-release"),
            ),
            created_by="RUN change files",
        )
        top = f"/{architecture}-${{token:{key}-directory}}"
        marker = Layer(
            (
                Directory(top),
                File(f"{top}/marker", f"${{token:{key}-marker}}\n"),
            ),
            created_by="RUN write the marker",
        )
        return Platform(architecture, (_alpine_base(tag), changes, marker))

    return ImageSpec("library/alpine", (tag,), (platform("amd64"), platform("arm64")))


def _alpine_base(tag: str) -> Layer:
    base = _base_layer(f"alpine {tag}")
    entries = (
        File("/etc/motd", "the motd of the first layer\n"),
        File("/etc/remove-me", "deleted by a whiteout in the next layer\n"),
        Directory("/usr/bin"),
        Directory("/var/cache/apk"),
        File("/var/cache/apk/old-index", "hidden by an opaque whiteout\n"),
        Directory("/var/cache/apk/old-directory"),
        File("/var/cache/apk/old-directory/data", "hidden as well\n"),
    )
    return Layer(base.entries + entries, created_by=base.created_by)


def _layered() -> ImageSpec:
    layers = (
        _base_layer("layered"),
        Layer(
            (
                Directory("/data/keep"),
                Directory("/data/drop"),
                File("/data/keep/one", "one\n"),
                File("/data/drop/two", "two\n"),
            ),
            created_by="RUN make data",
        ),
        Layer(
            (
                Whiteout("/data/drop"),
                File("/data/keep/one", "one, replaced ${token:layered-one}\n"),
            ),
            created_by="RUN drop a directory",
        ),
        Layer(
            (
                File("/data/keep/three", "${token:layered-three}\n", 0o600),
                Symlink("/data/link-to-keep", "keep"),
            ),
            created_by="RUN add more",
        ),
    )
    platform = Platform("amd64", layers, cmd=("/bin/sh", "-c", "ls /data"))
    return ImageSpec("stagescourse/layered", ("latest", "v1"), (platform,))


@dataclass
class TokenValues:
    """Random values for `${token:NAME}`, drawn from the seed and the name."""

    seed: int
    values: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        if name not in self.values:
            # Seeded per name, so a value does not depend on the build order.
            generator = random.Random(f"{self.seed}:{name}")
            self.values[name] = f"{generator.getrandbits(64):016x}"
        return self.values[name]
