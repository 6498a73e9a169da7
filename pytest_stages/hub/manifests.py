"""Manifest media types, the manifest forms of an image, and Accept negotiation."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .tokens import b64url, libtrust_key_id

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
IN_TOTO = "application/vnd.in-toto+json"
V2_TYPES = (OCI_INDEX, DOCKER_LIST, DOCKER_MANIFEST, OCI_MANIFEST)

# The time written into configs, history and schema 1 signatures.
CREATED = "2024-01-01T00:00:00Z"


@dataclass(frozen=True)
class Manifest:
    media_type: str
    content: bytes
    # For schema 1 the digest covers the manifest without its signatures.
    digest: str


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_manifest(media_type: str, document: dict) -> Manifest:
    content = json.dumps(document, indent=3).encode()
    return Manifest(media_type, content, sha256_digest(content))


def descriptor(media_type: str, data: bytes, **extra) -> dict:
    return {
        "mediaType": media_type,
        "size": len(data),
        "digest": sha256_digest(data),
    } | extra


def image_manifest(
    media_type: str,
    config_type: str,
    config: bytes,
    layer_type: str,
    blobs: list[bytes],
) -> Manifest:
    """Return a Docker v2 or OCI image manifest for a config and gzip layers."""
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(config_type, config),
        "layers": [descriptor(layer_type, blob) for blob in blobs],
    }
    return make_manifest(media_type, document)


def index_manifest(media_type: str, entries: list[dict]) -> Manifest:
    """Return an OCI index or Docker manifest list with the given entries."""
    return make_manifest(
        media_type, {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
    )


def platform_entry(manifest: Manifest, platform: dict) -> dict:
    return {
        "mediaType": manifest.media_type,
        "size": len(manifest.content),
        "digest": manifest.digest,
        "platform": platform,
    }


def attestation_entry(attestation: Manifest, subject: Manifest) -> dict:
    """Return an index entry for an attestation manifest of the image `subject`."""
    return {
        "mediaType": attestation.media_type,
        "size": len(attestation.content),
        "digest": attestation.digest,
        "annotations": {
            "vnd.docker.reference.digest": subject.digest,
            "vnd.docker.reference.type": "attestation-manifest",
        },
        "platform": {"architecture": "unknown", "os": "unknown"},
    }


def schema1_manifest(
    repository: str,
    tag: str,
    config: dict,
    blobs: list[bytes],
    key: ec.EllipticCurvePrivateKey,
) -> Manifest:
    """Return a signed schema 1 manifest, layers and history newest first."""
    ids = _v1_ids(config["rootfs"]["diff_ids"])
    history = []
    for position, layer_id in enumerate(ids):
        entry = {"id": layer_id, "created": CREATED}
        if position:
            entry["parent"] = ids[position - 1]
        created_by = config["history"][position].get("created_by", "")
        entry["container_config"] = {"Cmd": [created_by]}
        history.append(entry)
    newest = history[-1] | {
        key: value for key, value in config.items() if key not in ("rootfs", "history")
    }
    history[-1] = newest
    document = {
        "schemaVersion": 1,
        "name": repository,
        "tag": tag,
        "architecture": config["architecture"],
        "fsLayers": [{"blobSum": sha256_digest(blob)} for blob in reversed(blobs)],
        "history": [
            {"v1Compatibility": json.dumps(entry, separators=(",", ":"))}
            for entry in reversed(history)
        ],
    }
    payload = json.dumps(document, indent=3).encode()
    return Manifest(SCHEMA1_SIGNED, sign_schema1(payload, key), sha256_digest(payload))


def sign_schema1(payload: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """Add a libtrust-style JWS `signatures` member to a pretty-printed manifest.

    The protected header records where the signatures were inserted
    (`formatLength`, `formatTail`), so a verifier can cut them out again and
    get `payload` back, which is what the digest covers.
    """
    last = len(payload.rstrip()) - 1
    format_length = len(payload[:last].rstrip())
    tail = payload[format_length:]
    protected = b64url(
        json.dumps(
            {"formatLength": format_length, "formatTail": b64url(tail), "time": CREATED}
        ).encode()
    )
    signing_input = f"{protected}.{b64url(payload)}".encode()
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    numbers = key.public_key().public_numbers()
    header = {
        "jwk": {
            "crv": "P-256",
            "kid": libtrust_key_id(key.public_key()),
            "kty": "EC",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        },
        "alg": "ES256",
    }
    signatures = [
        {"header": header, "signature": b64url(signature), "protected": protected}
    ]
    block = json.dumps(signatures, indent=3).replace("\n", "\n   ")
    return payload[:format_length] + f',\n   "signatures": {block}'.encode() + tail


def _v1_ids(diff_ids: list[str]) -> list[str]:
    ids, parent = [], ""
    for diff_id in diff_ids:
        parent = hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()
        ids.append(parent)
    return ids


def accepted_types(accept_headers: list[str]) -> set[str]:
    """Return the media types of all Accept headers, without parameters."""
    types = set()
    for header in accept_headers:
        for item in header.split(","):
            media_type = item.split(";")[0].strip().lower()
            if media_type:
                types.add(media_type)
    return types
