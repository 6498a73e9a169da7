"""The hub inside the session container: built at session start, stopped at the end."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_stages.hub import Hub, ImageSpec, ImageStore, build_images, default_specs

logger = logging.getLogger("pytest_stages.hub")

SESSION_DIR_VARIABLE = "PYTEST_STAGES_SESSION_DIR"
HTTPS_PORT = 443


@dataclass
class SessionHub:
    """The running hub and the images it serves in this session."""

    hub: Hub
    store: ImageStore

    def stop(self) -> None:
        self.hub.stop()


def start_session_hub(
    explorer: Path, seed: int, extra_specs: Sequence[ImageSpec] = ()
) -> SessionHub:
    """Build the images, serve them on 127.0.0.1:443, and trust the hub's CA.

    ``extra_specs`` are the images that stage packs add (the ``IMAGES`` lists
    of their stage modules). The session container maps Docker Hub's host
    names to 127.0.0.1 and gives this session a CA bundle file of its own. The
    hub's CA is appended to that file, so every client in the session trusts
    the hub without any change.
    """
    session_dir = Path(os.environ.get(SESSION_DIR_VARIABLE) or tempfile.mkdtemp())
    hub_dir = session_dir / "hub"
    hub_dir.mkdir(exist_ok=True)
    specs = [*default_specs(), *extra_specs]
    store = build_images(specs, explorer, seed, hub_dir / "images")
    hub = Hub(store, tls_dir=hub_dir / "tls")
    hub.start("127.0.0.1", HTTPS_PORT)
    bundle = session_dir / "ca-bundle.pem"
    with bundle.open("ab") as file:
        file.write(b"\n" + hub.ca_path.read_bytes())
    logger.info("session hub serves %d repositories", len(store.repositories))
    return SessionHub(hub, store)
