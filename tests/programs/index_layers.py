#!/usr/bin/env python3
# Mistake: takes the index (manifest list) for the image manifest and reads its layers.
"""The reference solution without the step from an index to the platform's manifest.

An index has `manifests`, not `layers`, so nothing is extracted.
"""

import sys

from solution import registry, runtime


def fetch_tag_manifest(client: registry.RegistryClient, architecture, variant) -> dict:  # noqa: ANN001
    _, manifest = client.fetch_manifest(client.image.reference)
    return manifest


registry.resolve_manifest = fetch_tag_manifest
sys.exit(runtime.main())
