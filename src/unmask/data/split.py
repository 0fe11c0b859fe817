"""Deterministic, group-disjoint train/val/test split (70/15/15 by default) from a stable hash."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

SPLITS = ("train", "val", "test")


def group_labels(key_sets: Sequence[set[str]]) -> list[str]:
    """Union items that share any key; return one stable group label per item (the smallest key of its group)."""
    parent = list(range(len(key_sets)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for item, keys in enumerate(key_sets):
        for key in keys:
            if key in owner:
                a, b = find(item), find(owner[key])
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                owner[key] = item
    smallest: dict[int, str] = {}
    for item, keys in enumerate(key_sets):
        root = find(item)
        low = min(keys)
        if root not in smallest or low < smallest[root]:
            smallest[root] = low
    return [smallest[find(item)] for item in range(len(key_sets))]


def split_of(group: str, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)) -> str:
    """The split a group falls in: a stable hash of its label mapped to [0, 1) and cut at the fractions."""
    value = int.from_bytes(hashlib.sha1(group.encode("utf-8")).digest()[:8], "big") / 2**64
    cumulative = 0.0
    for name, fraction in zip(SPLITS, fractions, strict=True):
        cumulative += fraction
        if value < cumulative:
            return name
    return SPLITS[-1]
