"""Fault injection: planned failures the hub applies to the next matching requests."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

STATUS_KINDS = {429, 500, 502, 503}


@dataclass
class Fault:
    """One planned failure, used up after `count` matching requests.

    kind is one of:
      "status": respond with `status` (429, 500, 502 or 503) to requests whose path
        matches the regular expression `path`; a 429 carries `Retry-After`;
      "token-expiry": the next `count` issued tokens expire after `seconds`;
      "cut": close the connection halfway through the next `count` blob bodies
        on the storage host whose path matches `path`.
    """

    kind: str
    count: int = 1
    path: str = ""
    status: int = 429
    retry_after: int = 1
    seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("status", "token-expiry", "cut"):
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.kind == "status" and self.status not in STATUS_KINDS:
            raise ValueError(f"fault status must be one of {sorted(STATUS_KINDS)}")
        if self.count < 1:
            raise ValueError(f"fault count must be at least 1, not {self.count}")
        try:
            re.compile(self.path)
        except re.error as error:
            raise ValueError(
                f"invalid fault path pattern {self.path!r}: {error}"
            ) from None


@dataclass
class Faults:
    """The planned faults of a hub, safe to change from any thread while it runs."""

    pending: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.pending.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.pending.clear()

    def too_many_requests(
        self, count: int = 1, path: str = "", retry_after: int = 1
    ) -> Fault:
        """Respond 429 with `Retry-After` to the next `count` requests matching `path`."""
        return self.add(Fault("status", count, path, 429, retry_after))

    def server_error(self, status: int = 503, count: int = 1, path: str = "") -> Fault:
        """Respond with a 5xx status to the next `count` requests matching `path`."""
        return self.add(Fault("status", count, path, status))

    def expire_next_token(self, seconds: float, count: int = 1) -> Fault:
        """Give the next `count` issued tokens a lifetime of `seconds`."""
        return self.add(Fault("token-expiry", count, seconds=seconds))

    def cut_blobs(self, count: int = 1, path: str = "") -> Fault:
        """Close the connection in the middle of the next `count` blob bodies."""
        return self.add(Fault("cut", count, path))

    def take(self, kind: str, path: str = "") -> Fault | None:
        """Use up one matching fault of `kind` and return it, or return None."""
        with self._lock:
            for fault in self.pending:
                if fault.kind == kind and re.search(fault.path, path):
                    fault.count -= 1
                    if fault.count == 0:
                        self.pending.remove(fault)
                    return fault
        return None


def parse_fault(text: str) -> Fault:
    """Parse the command line form `KIND[:COUNT[:ARGUMENT]]`.

    KIND is 429, 500, 502, 503, token-expiry or cut. ARGUMENT is a path
    regular expression for statuses and cuts, and the lifetime in seconds for
    token-expiry. Examples: `429:2:/manifests/`, `token-expiry:1:2`, `cut`.
    """
    kind, _, rest = text.partition(":")
    count_text, _, argument = rest.partition(":")
    count = int(count_text) if count_text else 1
    if kind.isdigit():
        return Fault("status", count, argument, int(kind))
    if kind == "token-expiry":
        return Fault(kind, count, seconds=float(argument or 1))
    return Fault(kind, count, argument)
