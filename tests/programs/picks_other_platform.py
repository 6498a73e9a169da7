#!/usr/bin/env python3
# Mistake: picks the image for another platform (arm64 on amd64, amd64 on arm64).
"""The reference solution with the platform choice turned to the wrong one."""

import sys

from solution import registry, runtime

OTHER_PLATFORM = {"amd64": ("arm64", "v8"), "arm64": ("amd64", "")}


def other_platform() -> tuple[str, str]:
    architecture, _ = machine_platform()
    return OTHER_PLATFORM.get(architecture, ("arm64", "v8"))


machine_platform = registry.machine_platform


registry.machine_platform = other_platform
sys.exit(runtime.main())
