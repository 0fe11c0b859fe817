"""Plan a folder run's outputs before anything is written: every name checked against the inputs and each other,
and which outputs an earlier run already made with the same settings (resume) or with other ones (made again).

Each output records the settings that made it (``SETTINGS_KEY``: a PNG text chunk, or the EXIF description of a
JPEG/WebP/TIFF), e.g. ``remove model=pconv grow=3 mask=auto``; a rerun skips only outputs whose record matches.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from unmask.errors import UnmaskError
from unmask.provenance import metadata_value

SETTINGS_KEY = "unmask_settings"
SAME = "made earlier with the same model and settings"
FOREIGN = "already there but not made by unmask (--overwrite replaces them)"


def check_names(outputs: dict[Path, Sequence[Path]]) -> None:
    """Refuse (one-line UnmaskError naming both inputs) a run where an output is an input or two outputs of the
    run share a name; ``outputs`` maps each input to every file it will write."""
    inputs = {source.resolve(): source for source in outputs}
    writers: dict[Path, Path] = {}
    for source, targets in outputs.items():
        for target in targets:
            key = target.resolve()
            if key in inputs:
                raise UnmaskError(f"{target}: refusing to overwrite an input ({inputs[key]}, written for {source}); "
                                  "choose another output folder")
            if key in writers:
                raise UnmaskError(f"{writers[key]} and {source} would both be written to {target}; rename one")
            writers[key] = source


def file_digest(path: Path) -> str:
    """The first 16 hex digits of a file's sha256 (names the exact mask a result was made from)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def state(path: Path, settings: str) -> str:
    """``missing``, ``same`` (made with ``settings``), ``other`` (made by unmask with other settings, or
    unreadable) or ``foreign`` (a file without unmask's record)."""
    if not path.is_file():
        return "missing"
    try:
        made = metadata_value(path, SETTINGS_KEY)
    except (OSError, ValueError, SyntaxError):
        return "other"
    if made is None:
        return "foreign"
    return "same" if made == settings else "other"


@dataclass
class Resume:
    """What a rerun does with the outputs already there: why each skipped input was skipped, how many replaced."""

    skipped: Counter = field(default_factory=Counter)
    remade: Counter = field(default_factory=Counter)

    def decide(self, targets: Sequence[Path], settings: str, overwrite: bool) -> bool:
        """True when an input's ``targets`` must be (re)made; counts the skip reason or the replacement."""
        states = {state(target, settings) for target in targets} if not overwrite else {"missing"}
        if states == {"same"}:
            self.skipped[SAME] += 1
            return False
        if "foreign" in states:
            self.skipped[FOREIGN] += 1
            return False
        if "other" in states:
            self.remade["made earlier with other settings"] += 1
        elif overwrite and any(target.is_file() for target in targets):
            self.remade["already there (--overwrite)"] += 1
        return True

    def summary(self) -> str:
        """``; skipped 3 made earlier with the same model and settings; ...`` (empty when nothing to say)."""
        return "".join([f"; skipped {count} {reason}" for reason, count in sorted(self.skipped.items())]
                       + [f"; remade {count} {reason}" for reason, count in sorted(self.remade.items())])
