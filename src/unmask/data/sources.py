"""Read source folders of face photos (with an optional ``index.csv``) into records that know their group.

A *group* is the unit that must never straddle a train/test split: one identity when the index names it,
otherwise one photo together with its twins (the same file stem in sibling sub-folders, e.g. a photo and its
masked copy, or any record sharing a provenance path such as ``source_path`` / ``*_src``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from unmask.errors import UnmaskError
from unmask.io import IMAGE_SUFFIXES

PROVENANCE_COLUMNS = ("source_path", "with_mask_src", "without_mask_src")


@dataclass
class SourceImage:
    """One photo of a source folder: its path, the set it belongs to, and the keys that tie it to its group."""

    path: Path
    source_set: str  # folder name, plus the sub-folder for nested sets ("paired_prajnasb/with_mask")
    identity: str = ""
    keys: set[str] = field(default_factory=set)


def _read_index(folder: Path) -> list[dict[str, str]]:
    index = folder / "index.csv"
    if not index.is_file():
        return []
    with open(index, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def scan_source(folder: str | Path) -> list[SourceImage]:
    """List the photos of one source folder (and its direct sub-folders) with identity and twin keys."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UnmaskError(f"{folder}: not a folder")
    rows = _read_index(folder)
    by_file = {row["file"]: row for row in rows if row.get("file")}
    by_id = {row["id"]: row for row in rows if row.get("id")}
    images: list[SourceImage] = []
    for directory in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        source_set = folder.name if directory == folder else f"{folder.name}/{directory.name}"
        for path in sorted(directory.iterdir()):
            if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            row = by_file.get(path.name) or by_id.get(path.stem) or {}
            keys = {f"prov:{row[c]}" for c in PROVENANCE_COLUMNS if row.get(c)}
            if directory != folder:
                keys.add(f"twin:{folder.name}:{path.stem}")
            identity = (row.get("identity") or "").strip()
            if identity:
                keys.add(f"id:{folder.name}:{identity}")
            keys.add(f"file:{source_set}:{path.name}")
            images.append(SourceImage(path=path, source_set=source_set, identity=identity, keys=keys))
    return images
