"""Building images from specs into a content-addressed store the hub serves."""

from __future__ import annotations

import json
import logging
import platform as host_platform
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from . import manifests as m
from .images import ImageSpec, Platform, TokenValues
from .layers import BuiltLayer, LayerBuilder, Node, apply_layer

logger = logging.getLogger("pytest_stages.hub")

_MACHINE_TO_ARCHITECTURE = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def host_architecture() -> str:
    """Return the Go name of this machine's architecture, `amd64` if unknown."""
    return _MACHINE_TO_ARCHITECTURE.get(host_platform.machine(), "amd64")


@dataclass
class BuiltPlatform:
    """One platform of a built tag: its manifests and its final filesystem."""

    platform: Platform
    config: bytes
    docker: m.Manifest
    oci: m.Manifest
    schema1: m.Manifest
    attestation: m.Manifest | None
    view: dict[str, Node]


@dataclass
class BuiltTag:
    repository: str
    tag: str
    platforms: dict[str, BuiltPlatform]
    oci_index: m.Manifest | None = None
    docker_list: m.Manifest | None = None

    def choose(
        self, accepted: set[str], default_platform: str, schema1: bool
    ) -> m.Manifest | None:
        """Return the manifest to serve for a tag request with these Accept types.

        A multi-platform tag prefers the OCI index, then the Docker manifest
        list. A client that accepts only single-platform manifests gets the
        manifest of `default_platform`, and a client that accepts no v2 type
        gets schema 1, or None when schema 1 is turned off.
        """
        if self.oci_index and m.OCI_INDEX in accepted:
            return self.oci_index
        if self.docker_list and m.DOCKER_LIST in accepted:
            return self.docker_list
        built = self.platforms.get(default_platform) or next(
            iter(self.platforms.values())
        )
        if m.DOCKER_MANIFEST in accepted:
            return built.docker
        if m.OCI_MANIFEST in accepted:
            return built.oci
        if not self.oci_index and accepted & {m.OCI_INDEX, m.DOCKER_LIST}:
            # The tag has no index, so an index-only client gets its manifest.
            return built.docker
        return built.schema1 if schema1 else None


@dataclass
class Repository:
    name: str
    tags: dict[str, BuiltTag] = field(default_factory=dict)
    manifests: dict[str, m.Manifest] = field(default_factory=dict)
    blobs: set[str] = field(default_factory=set)

    def add_manifest(self, manifest: m.Manifest | None) -> None:
        if manifest is not None:
            self.manifests[manifest.digest] = manifest


@dataclass
class ImageStore:
    """Built images: blobs on disk, manifests and expected filesystems in memory."""

    blobs_dir: Path
    tokens: dict[str, str]
    repositories: dict[str, Repository] = field(default_factory=dict)

    def blob_path(self, digest: str) -> Path:
        algorithm, _, hex_digest = digest.partition(":")
        return self.blobs_dir / algorithm / hex_digest

    def tag(self, repository: str, tag: str) -> BuiltTag:
        try:
            return self.repositories[repository].tags[tag]
        except KeyError:
            raise KeyError(f"no image {repository}:{tag} in the store") from None

    def expected_view(
        self, repository: str, tag: str, platform: str | None = None
    ) -> dict[str, Node]:
        """Return the final filesystem of an image: relative path to Node."""
        built = self.tag(repository, tag)
        name = platform or f"linux/{host_architecture()}"
        if name not in built.platforms:
            name = next(iter(built.platforms))
        return built.platforms[name].view

    def expected_top_level(
        self, repository: str, tag: str, platform: str | None = None
    ) -> list[str]:
        """Return the sorted names in the root directory of an image."""
        view = self.expected_view(repository, tag, platform)
        return sorted(path for path in view if "/" not in path)

    def expected_file(
        self, repository: str, tag: str, path: str, platform: str | None = None
    ) -> bytes:
        """Return the content of a file of an image, following hard links."""
        node = self.expected_view(repository, tag, platform)[path.lstrip("/")]
        if node.kind != "file":
            raise ValueError(f"{path} is a {node.kind} in {repository}:{tag}")
        return node.content


def build_images(
    specs: list[ImageSpec], explorer: Path, seed: int, out_dir: Path
) -> ImageStore:
    """Build `specs` into `out_dir`, the same bytes for the same seed and explorer.

    Blobs go to `out_dir/blobs/sha256/`. Schema 1 signatures use a new key each
    call, so only their bytes differ between builds, not their digests.
    """
    tokens = TokenValues(seed)
    store = ImageStore(out_dir / "blobs", tokens.values)
    builder = _Builder(store, LayerBuilder(tokens, Path(explorer)))
    for spec in specs:
        builder.add(spec)
    logger.info(
        "built %d images of %d repositories into %s",
        len(specs),
        len(store.repositories),
        out_dir,
    )
    return store


class _Builder:
    def __init__(self, store: ImageStore, layers: LayerBuilder) -> None:
        self.store = store
        self.layers = layers
        self.signing_key = ec.generate_private_key(ec.SECP256R1())

    def add(self, spec: ImageSpec) -> None:
        repository = self.store.repositories.setdefault(
            spec.repository, Repository(spec.repository)
        )
        for tag in spec.tags:
            built = self._build_tag(spec, tag, repository)
            repository.tags[tag] = built
            repository.add_manifest(built.oci_index)
            repository.add_manifest(built.docker_list)

    def _build_tag(self, spec: ImageSpec, tag: str, repository: Repository) -> BuiltTag:
        built = BuiltTag(spec.repository, tag, {})
        for platform in spec.platforms:
            built_platform = self._build_platform(spec, tag, platform, repository)
            built.platforms[platform.name] = built_platform
            for manifest in (
                built_platform.docker,
                built_platform.oci,
                built_platform.schema1,
                built_platform.attestation,
            ):
                repository.add_manifest(manifest)
        if spec.multi_platform:
            built.oci_index = self._index(m.OCI_INDEX, built, spec.attestations, "oci")
            built.docker_list = self._index(
                m.DOCKER_LIST, built, spec.attestations, "docker"
            )
        return built

    def _build_platform(
        self, spec: ImageSpec, tag: str, platform: Platform, repository: Repository
    ) -> BuiltPlatform:
        layers = [self.layers.build(layer) for layer in platform.layers]
        view: dict[str, Node] = {}
        for layer in layers:
            apply_layer(view, layer.members)
        config_document = _config(platform, layers)
        config = json.dumps(config_document, separators=(",", ":")).encode()
        blobs = [layer.blob for layer in layers]
        for data in [config, *blobs]:
            repository.blobs.add(self._write_blob(data))
        attestation = None
        if spec.attestations and spec.multi_platform:
            attestation = self._attestation(spec.repository, tag, platform, repository)
        return BuiltPlatform(
            platform=platform,
            config=config,
            docker=m.image_manifest(
                m.DOCKER_MANIFEST, m.DOCKER_CONFIG, config, m.DOCKER_LAYER, blobs
            ),
            oci=m.image_manifest(
                m.OCI_MANIFEST, m.OCI_CONFIG, config, m.OCI_LAYER, blobs
            ),
            schema1=m.schema1_manifest(
                spec.repository, tag, config_document, blobs, self.signing_key
            ),
            attestation=attestation,
            view=view,
        )

    def _attestation(
        self, name: str, tag: str, platform: Platform, repository: Repository
    ) -> m.Manifest:
        statement = {
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://spdx.dev/Document",
            "subject": [{"name": f"pkg:docker/{name}@{tag}?platform={platform.name}"}],
            "predicate": {"spdxVersion": "SPDX-2.3", "name": f"{name}:{tag}"},
        }
        layer = json.dumps(statement, separators=(",", ":")).encode()
        config = json.dumps(
            {
                "architecture": "unknown",
                "os": "unknown",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": [m.sha256_digest(layer)]},
            },
            separators=(",", ":"),
        ).encode()
        repository.blobs.add(self._write_blob(layer))
        repository.blobs.add(self._write_blob(config))
        document = {
            "schemaVersion": 2,
            "mediaType": m.OCI_MANIFEST,
            "config": m.descriptor(m.OCI_CONFIG, config),
            "layers": [
                m.descriptor(
                    m.IN_TOTO,
                    layer,
                    annotations={
                        "in-toto.io/predicate-type": statement["predicateType"]
                    },
                )
            ],
        }
        return m.make_manifest(m.OCI_MANIFEST, document)

    def _index(
        self, media_type: str, built: BuiltTag, attestations: bool, form: str
    ) -> m.Manifest:
        entries, references = [], []
        for built_platform in built.platforms.values():
            manifest = getattr(built_platform, form)
            entries.append(
                m.platform_entry(manifest, _platform_field(built_platform.platform))
            )
            if attestations and built_platform.attestation is not None:
                references.append(
                    m.attestation_entry(built_platform.attestation, manifest)
                )
        return m.index_manifest(media_type, entries + references)

    def _write_blob(self, data: bytes) -> str:
        digest = m.sha256_digest(data)
        path = self.store.blob_path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            partial.write_bytes(data)
            partial.rename(path)
        return digest


def _platform_field(platform: Platform) -> dict:
    result = {"architecture": platform.architecture, "os": platform.os}
    if platform.variant:
        result["variant"] = platform.variant
    return result


def _config(platform: Platform, layers: list[BuiltLayer]) -> dict:
    return {
        "architecture": platform.architecture,
        **({"variant": platform.variant} if platform.variant else {}),
        "os": platform.os,
        "created": m.CREATED,
        "config": {
            "Env": list(platform.env),
            "Cmd": list(platform.cmd),
            "WorkingDir": "/",
        },
        "history": [
            {"created": m.CREATED, "created_by": layer.created_by or "ADD layer"}
            for layer in platform.layers
        ],
        "rootfs": {
            "type": "layers",
            "diff_ids": [m.sha256_digest(layer.tar) for layer in layers],
        },
    }
