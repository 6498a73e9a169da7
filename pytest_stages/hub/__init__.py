"""The hub: an embedded registry that speaks Docker Hub's pull protocol.

See docs/hub.md for how it works, how to serve it and how to add images.
"""

from .faults import Fault, Faults
from .handler import LoggedRequest
from .images import (
    Directory,
    Explorer,
    File,
    Hardlink,
    ImageSpec,
    Layer,
    OpaqueWhiteout,
    Platform,
    Symlink,
    Whiteout,
    default_specs,
)
from .server import Hub
from .store import ImageStore, build_images

__all__ = [
    "Directory",
    "Explorer",
    "Fault",
    "Faults",
    "File",
    "Hardlink",
    "Hub",
    "ImageSpec",
    "ImageStore",
    "Layer",
    "LoggedRequest",
    "OpaqueWhiteout",
    "Platform",
    "Symlink",
    "Whiteout",
    "build_images",
    "default_specs",
    "main",
]


def main(argv: list[str] | None = None) -> int:
    """Run the `python3 -m pytest_stages.hub` command line; see `cli.py`."""
    from .cli import main as cli_main

    return cli_main(argv)
