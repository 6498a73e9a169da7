#!/usr/bin/env python3
# Mistake: requests official images without library/ (/v2/alpine/..., not /v2/library/alpine/...).
"""The reference solution with `library/` dropped from official image names."""

import dataclasses
import sys

from solution import registry, runtime

parse_with_library = registry.parse_reference


def parse_without_library(image: str) -> registry.ImageReference:
    reference = parse_with_library(image)
    repository = reference.repository.removeprefix("library/")
    return dataclasses.replace(reference, repository=repository)


registry.parse_reference = parse_without_library
sys.exit(runtime.main())
