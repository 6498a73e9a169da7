"""The `serve` command: the hub on 127.0.0.1 in loopback mode, for trying it by hand."""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from .faults import Faults, parse_fault
from .images import default_specs
from .server import Hub
from .store import build_images

logger = logging.getLogger("pytest_stages.hub")

USAGE_TEXT = """\
The hub is serving {images} on {url}
Try it:
  curl -si {url}/v2/
  TOKEN=$(curl -s{insecure} \\
    '{url}/token?service=registry.docker.io&scope=repository:library/alpine:pull' \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  curl -s{insecure} -H "Authorization: Bearer $TOKEN" \\
    -H 'Accept: application/vnd.oci.image.index.v1+json' \\
    {url}/v2/library/alpine/manifests/latest
  skopeo inspect {skopeo_flag} docker://{address}/library/alpine:latest
Press Ctrl+C to stop.
"""


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` and run the requested command. Returns the exit status."""
    arguments = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if arguments.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return serve(arguments)


def serve(arguments: argparse.Namespace) -> int:
    explorer = arguments.explorer or _default_explorer()
    seed = arguments.seed if arguments.seed is not None else random.randrange(2**32)
    workdir = Path(tempfile.mkdtemp(prefix="pytest-stages-hub-"))
    try:
        store = build_images(default_specs(), explorer, seed, workdir / "images")
        faults = Faults(list(arguments.fault))
        hub = Hub(
            store,
            tls_dir=workdir / "tls" if arguments.tls else None,
            faults=faults,
            loopback=True,
            schema1=not arguments.no_schema1,
        )
        # SIGTERM exits through the finally clauses, so the hub stops and
        # the temporary folder is removed.
        signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(0))
        with hub.start("127.0.0.1", arguments.port):
            print(_usage(hub, store, seed), flush=True)
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _usage(hub: Hub, store, seed: int) -> str:
    images = ", ".join(
        f"{name}:{tag}"
        for name, repository in sorted(store.repositories.items())
        for tag in sorted(repository.tags)
    )
    url = hub.registry_url()
    insecure = f" --cacert {hub.ca_path}" if hub.tls else ""
    skopeo_flag = (
        f"--cert-dir {hub.ca_path.parent}" if hub.tls else "--tls-verify=false"
    )
    text = USAGE_TEXT.format(
        images=images,
        url=url,
        insecure=insecure,
        skopeo_flag=skopeo_flag,
        address=url.split("://", 1)[1],
    )
    return f"seed {seed}\n{text}"


def _default_explorer() -> Path:
    try:
        from pytest_stages.explorer import build_explorer
    except ImportError:
        busybox = shutil.which("busybox")
        if busybox is None:
            raise SystemExit(
                "the explorer is not available and busybox is missing: pass --explorer PATH"
            ) from None
        logger.warning("the explorer is not available, using %s in its place", busybox)
        return Path(busybox)
    return Path(build_explorer())


def _fault_argument(text: str):
    try:
        return parse_fault(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"invalid fault {text!r}: {error}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m pytest_stages.hub",
        description="Docker Hub's pull protocol for the course's images, offline.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser(
        "serve", help="serve the built-in images on 127.0.0.1 in loopback mode"
    )
    serve_parser.add_argument(
        "--port", type=int, default=5000, help="TCP port to listen on (default 5000)"
    )
    serve_parser.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a new certificate authority",
    )
    serve_parser.add_argument(
        "--seed", type=int, help="seed of the random image content (default: random)"
    )
    serve_parser.add_argument(
        "--explorer", type=Path, help="binary to place in the images as the explorer"
    )
    serve_parser.add_argument(
        "--no-schema1",
        action="store_true",
        help="respond 404 instead of serving schema 1 manifests, as Docker Hub does today",
    )
    serve_parser.add_argument(
        "--fault",
        action="append",
        type=_fault_argument,
        default=[],
        metavar="KIND[:COUNT[:ARGUMENT]]",
        help="plan a fault: 429, 500, 502 or 503 with a path regex, "
        "token-expiry with seconds, or cut with a path regex (repeatable)",
    )
    serve_parser.add_argument(
        "--verbose", action="store_true", help="log every request"
    )
    return parser
