"""``unmask prepare``: detect and align every face of some source folders into crops plus one split manifest."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from unmask.data.manifest import write_manifest
from unmask.data.sources import scan_source
from unmask.data.split import group_labels, split_of
from unmask.errors import UnmaskError
from unmask.face import align_face, detect_faces, transform_face
from unmask.io import load_image, save_image


def prepare(sources: list[str | Path], out_dir: str | Path, size: int = 256, min_score: float = 0.6,
            max_faces: int = 8) -> dict[str, dict[str, int]]:
    """Align every face found in ``sources`` to ``size``² crops under ``out_dir`` and write the manifest.

    Crops already on disk are reused (the run resumes). Returns per-set counts:
    images, faces, no_face (photos where nothing was found) and unreadable.
    """
    out_dir = Path(out_dir)
    images = [image for source in sources for image in scan_source(source)]
    if not images:
        raise UnmaskError("no images found in " + ", ".join(map(str, sources)))
    groups = group_labels([image.keys for image in images])
    counts: dict[str, Counter] = {}
    rows: list[dict[str, object]] = []
    landmarks: list[np.ndarray] = []
    started = time.perf_counter()
    for image, group in zip(tqdm(images, desc="prepare", unit="img"), groups, strict=True):
        count = counts.setdefault(image.source_set, Counter())
        count["images"] += 1
        try:
            photo = load_image(image.path)
        except UnmaskError:
            count["unreadable"] += 1
            continue
        faces = detect_faces(photo, min_score=min_score, max_faces=max_faces)
        if not faces:
            count["no_face"] += 1
            continue
        for face_index, face in enumerate(faces):
            aligned = align_face(photo, face, size=size)
            relative = Path("crops") / image.source_set / f"{image.path.stem}_{face_index}.png"
            if not (out_dir / relative).is_file():
                save_image(out_dir / relative, aligned.image)
            landmarks.append(transform_face(face, aligned.matrix).landmarks)
            rows.append({
                "path": relative.as_posix(), "split": split_of(group), "source_set": image.source_set,
                "source_file": str(image.path), "identity": image.identity, "group": group,
                "face_index": face_index, "score": round(float(face.score), 4),
                "coverage": round(float(aligned.coverage), 4),
            })
            count["faces"] += 1
    out_dir.mkdir(parents=True, exist_ok=True)
    write_manifest(out_dir, rows, np.asarray(landmarks, dtype=np.float32).reshape(-1, 68, 2))
    report = {name: dict(count) for name, count in counts.items()}
    report["_total"] = {"images": len(images), "faces": len(rows),
                        "seconds": round(time.perf_counter() - started)}
    return report
