"""Folder runs of occlusion detection (``unmask detect``): one ``<stem>.mask.png`` per photo, white = occluded.

Every output name is checked before anything is written (never into an input folder, never two photos to one
mask); each mask records the method, threshold and growth that made it, so a rerun skips only masks made the same
way and a mask edited by hand (its record gone) is kept unless ``overwrite``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from unmask.errors import UnmaskError
from unmask.face.segment import DETECTION_METHODS, find_occlusions
from unmask.io import load_image, save_image
from unmask.pipeline import grow_mask
from unmask.runplan import SETTINGS_KEY, Resume, check_names


def mask_name(photo: Path) -> str:
    """The file name of a photo's mask: ``<stem>.mask.png`` (what ``unmask remove --mask DIR`` looks for)."""
    return f"{photo.stem}.mask.png"


def detect_folder(inputs: list[Path], out_dir: Path, method: str = "auto", threshold: float | None = None,
                  grow: int = 0, overwrite: bool = False, progress: bool = True,
                  report: Callable[[str], None] | None = None) -> tuple[int, int, Resume]:
    """Write the mask of every input into ``out_dir``; returns (written, failed, what resume skipped or remade)."""
    report = report or (lambda line: print(f"unmask: {line}", file=sys.stderr))
    if method not in ("auto", *DETECTION_METHODS):
        raise UnmaskError(f"unknown detection method {method!r}; choose one of {', '.join(DETECTION_METHODS)}")
    if threshold is not None and method == "kmeans":
        raise UnmaskError("--threshold is the learned segmenter's; it does not apply to --method kmeans")
    if grow < 0:
        raise UnmaskError(f"--grow must be at least 0, got {grow}")
    folders = {path.parent.resolve(): path for path in inputs}
    if out_dir.resolve() in folders:
        raise UnmaskError(f"{out_dir} holds the input {folders[out_dir.resolve()]}; choose another output folder")
    outputs = {path: [out_dir / mask_name(path)] for path in inputs}
    check_names(outputs)
    settings = f"detect method={method} threshold={'default' if threshold is None else threshold} grow={grow}"
    resume = Resume()
    todo = [path for path, targets in outputs.items() if resume.decide(targets, settings, overwrite)]
    written = failed = 0
    from tqdm import tqdm

    for path in tqdm(todo, desc="detect", unit="img", disable=not progress or len(todo) < 2):
        try:
            mask, faces = find_occlusions(load_image(path), method=method, threshold=threshold)
            if not faces:
                raise UnmaskError(f"{path}: no face found")
        except UnmaskError as error:
            report(str(error) if str(path) in str(error) else f"{path}: {error}")
            failed += 1
            continue
        mask = grow_mask(mask, grow)
        save_image(outputs[path][0], mask * 255, {SETTINGS_KEY: settings})
        written += 1
        tqdm.write(f"{path.name}: {len(faces)} face(s), {mask.mean():.1%} of the photo occluded")
    return written, failed, resume
