#!/usr/bin/env python3
# Mistake: takes the index (manifest list) for the image manifest and fetches its entries as blobs.
"""The reference solution that downloads an index's per-platform manifests as layers."""

import sys

from solution import registry, runtime


def fetch_tag_manifest(client: registry.RegistryClient, architecture, variant) -> dict:  # noqa: ANN001
    _, manifest = client.fetch_manifest(client.image.reference)
    if "manifests" in manifest:
        return {"layers": manifest["manifests"]}
    return manifest


registry.resolve_manifest = fetch_tag_manifest
sys.exit(runtime.main())
