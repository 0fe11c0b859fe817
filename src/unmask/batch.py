"""Folder runs of the pipeline: stream photos, batch their faces through the model, write each result atomically.

``remove_folder`` is what ``unmask remove`` calls. Photos are read, detected and aligned by a DataLoader (optionally
in worker processes) a few at a time, so memory stays bounded however many files there are; the face crops of
``batch_size`` photos go through the network in one call; every result is written with a temporary file and a
rename, and its mask (``--save-mask``) before it, so an output that exists is complete and a killed run resumes
where it stopped. With ``devices`` the same dataset, model call and writer run under Lightning's
``trainer.predict``: data-parallel over N GPUs (DDP), or N CPU processes when there is no GPU.
"""

from __future__ import annotations

import glob
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from unmask.errors import UnmaskError
from unmask.io import image_to_tensor, load_image, load_mask, mask_to_tensor, save_image, tensor_to_image
from unmask.pipeline import PhotoJob, PhotoPreparer, Unmasker
from unmask.provenance import provenance_metadata


@dataclass(frozen=True)
class Task:
    """One photo to process: where it is read from and where its result (and optional mask) go."""

    source: Path
    target: Path
    mask_target: Path | None = None


@dataclass
class Prepared:
    """A photo after ``Unmasker.prepare`` (``job``), or the one-line reason it could not be prepared (``error``)."""

    task: Task
    job: PhotoJob | None = None
    error: str | None = None


def _remove_partial(target: Path) -> None:
    """Delete temporary files that ``save_image`` left for ``target`` when a run was killed mid-write."""
    for leftover in glob.glob(str(target.parent / f".{glob.escape(target.name)}.*{glob.escape(target.suffix)}")):
        Path(leftover).unlink(missing_ok=True)


def plan(inputs: list[Path], out_dir: Path, save_mask: bool = False) -> tuple[list[Task], int]:
    """The tasks still to do (finished outputs are skipped) and how many were already done.

    Refuses to write over an input or to write two inputs to the same output; clears half-written leftovers.
    """
    sources = {path.resolve() for path in inputs}
    seen: dict[Path, Path] = {}
    tasks, done = [], 0
    for path in inputs:
        target = out_dir / path.name
        mask_target = out_dir / f"{path.stem}.mask.png" if save_mask else None
        for output in (target, mask_target):
            if output is not None and output.resolve() in sources:
                raise UnmaskError(f"{output}: refusing to overwrite an input; choose another output folder")
        if target in seen:
            raise UnmaskError(f"{seen[target]} and {path} would both be written to {target}; rename one")
        seen[target] = path
        if target.is_file():
            done += 1  # finished in an earlier run: resume
            continue
        _remove_partial(target)
        if mask_target is not None:
            _remove_partial(mask_target)
        tasks.append(Task(path, target, mask_target))
    return tasks, done


class PhotoDataset(Dataset):
    """Map-style dataset of tasks -> ``Prepared`` (so Lightning can shard it over devices); picklable."""

    def __init__(self, tasks: list[Task], preparer: PhotoPreparer, mask: str | None = None) -> None:
        self.tasks, self.preparer, self.mask = tasks, preparer, mask

    def __len__(self) -> int:
        return len(self.tasks)

    def __getitem__(self, index: int) -> Prepared:
        task = self.tasks[index]
        try:
            image = load_image(task.source)
            mask = None if self.mask is None else load_mask(self.mask, image.shape)
            return Prepared(task, job=self.preparer(image, mask))
        except UnmaskError as error:
            message = str(error)
            return Prepared(task, error=message if str(task.source) in message else f"{task.source}: {message}")


def collate(items: list[Prepared]) -> tuple[list[Prepared], torch.Tensor, torch.Tensor]:
    """Photos -> (photos, crops (F, 3, S, S), holes (F, 1, S, S)) with the F face crops of all of them in order."""
    crops = [image_to_tensor(job.aligned.image) for item in items if item.job for job in item.job.jobs]
    holes = [mask_to_tensor(job.hole) for item in items if item.job for job in item.job.jobs]
    if not crops:
        return items, torch.zeros(0, 3, 1, 1), torch.zeros(0, 1, 1, 1)
    return items, torch.cat(crops), torch.cat(holes)


class ResultWriter:
    """Finish a batch (paste the filled crops back) and write its results; counts what was written and failed."""

    def __init__(self, unmasker: Unmasker, model_label: str, report: Callable[[str], None] | None = None) -> None:
        self.unmasker, self.model_label = unmasker, model_label
        self.report = report or (lambda line: print(f"unmask: {line}", file=sys.stderr))
        self.written = self.failed = 0

    def write(self, items: list[Prepared], filled: torch.Tensor) -> None:
        """``filled``: (F, 3, S, S) model outputs for the face crops of ``items``, in ``collate`` order."""
        outputs: Iterator[torch.Tensor] = iter(filled.cpu())
        for item in items:
            if item.job is None:
                self.report(item.error or f"{item.task.source}: failed")
                self.failed += 1
                continue
            crops = [tensor_to_image(next(outputs)) for _ in item.job.jobs]
            result = self.unmasker.finish(item.job, crops)
            if item.task.mask_target is not None:
                save_image(item.task.mask_target, result.mask * 255)
            save_image(item.task.target, result.image, provenance_metadata(self.model_label, result.mask))
            self.written += 1


def _loader(dataset: PhotoDataset, batch_size: int, workers: int) -> DataLoader:
    """Batches of ``batch_size`` prepared photos, prepared ``workers`` processes ahead (0 = in this process).

    Loader processes are spawned, not forked: a fork copies MediaPipe's FaceMesh state without its threads
    when this process has already detected a face, and the child then hangs or aborts in FaceMesh.
    """
    return DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate,
                      prefetch_factor=2 if workers else None, persistent_workers=False,
                      multiprocessing_context="spawn" if workers else None)


def remove_folder(inputs: list[Path], out_dir: Path, unmasker: Unmasker, mask: str | None = None,
                  save_mask: bool = False, batch_size: int = 4, workers: int = 0, devices: int | None = None,
                  progress: bool = True) -> tuple[int, int, int]:
    """Process ``inputs`` into ``out_dir``; returns (written, failed, skipped as already done)."""
    if batch_size < 1 or workers < 0 or (devices is not None and devices < 1):
        raise UnmaskError("--batch-size and --devices must be at least 1 and --workers at least 0")
    tasks, done = plan(inputs, out_dir, save_mask)
    writer = ResultWriter(unmasker, getattr(unmasker.model, "model_name", unmasker.model_name))
    if not tasks:
        return 0, 0, done
    loader = _loader(PhotoDataset(tasks, unmasker.preparer(), mask), batch_size, workers)
    if devices is None:
        from tqdm import tqdm

        for items, crops, holes in tqdm(loader, desc="remove", unit="batch", disable=not progress or len(tasks) < 2):
            writer.write(items, unmasker.fill(crops, holes) if len(crops) else crops)
    else:
        from unmask.predict import predict_folder

        predict_folder(loader, unmasker, writer, devices, progress)
    return writer.written, writer.failed, done
