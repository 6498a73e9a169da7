"""Run a command in the session container: `python -m pytest_stages.container`.

The docker and podman backends run this inside their container, so that the
root backend builds the same session there as on a Linux host.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import (
    BACKEND_NAMES,
    DOCKER_HUB_HOSTS,
    NoBackendError,
    SessionSetupError,
    SessionSpec,
    select_backend,
)


def _explorer_or_default(path: str | None) -> Path | None:
    if path is not None:
        return Path(path)
    try:
        from pytest_stages.explorer import build_explorer
    except ImportError:
        return None
    return Path(build_explorer())


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the session and return its exit status."""
    parser = argparse.ArgumentParser(prog="python -m pytest_stages.container")
    parser.add_argument("--backend", default="auto", choices=("auto", *BACKEND_NAMES))
    parser.add_argument("--program-dir", type=Path, default=Path.cwd())
    parser.add_argument("--writable", type=Path, action="append", default=[])
    parser.add_argument("--hub-host", action="append")
    parser.add_argument("--host-network", action="store_true")
    parser.add_argument(
        "--explorer", help="the explorer binary; built from source when not given"
    )
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    try:
        backend = select_backend(args.backend)
        spec = SessionSpec(
            command=args.command,
            program_dir=args.program_dir,
            writable_paths=args.writable,
            explorer=_explorer_or_default(args.explorer),
            hub_hosts=[]
            if args.host_network
            else args.hub_host or list(DOCKER_HUB_HOSTS),
            host_network=args.host_network,
        )
        return backend.run(spec)
    except (NoBackendError, SessionSetupError) as error:
        print(f"pytest-stages: {error}", file=sys.stderr)
        return 125


if __name__ == "__main__":
    sys.exit(main())
