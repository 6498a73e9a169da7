"""Split a class into shards that separate machines grade."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SHARD = re.compile(r"^(\d+)/(\d+)$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``, numbered from 1 as ``--shard 1/3`` is."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """Parse ``K/N``; raise ``ValueError`` with a message for anything else."""
    match = _SHARD.match(text.strip())
    if not match:
        raise ValueError(f"shard {text!r} is invalid: write K/N, such as 2/3.")
    shard = Shard(int(match.group(1)), int(match.group(2)))
    if not 1 <= shard.index <= shard.count:
        raise ValueError(
            f"shard {text!r} is invalid: K must be between 1 and N, such as 2/3."
        )
    return shard


def select_shard(names: list[str], shard: Shard) -> list[str]:
    """Return the names that belong to ``shard``, round-robin over the sorted names.

    The split depends only on the set of names, so every machine with
    the same folders picks the same subset, and the shards together cover
    every name exactly once.
    """
    ordered = sorted(names)
    return ordered[shard.index - 1 :: shard.count]
