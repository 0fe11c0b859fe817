"""Folder runs of the pipeline: stream photos, batch their faces through the model, write each result atomically.

``remove_folder`` is what ``unmask remove`` calls (``occlude_folder``: ``unmask occlude``). Photos are read,
detected and aligned by a DataLoader (optionally in worker processes) a few at a time, so memory stays bounded
however many files there are; the face crops of ``batch_size`` photos go through the network in one call; every
result is written with a temporary file and a rename, and its mask (``--save-mask``) before it, so an output that
exists is complete and a killed run resumes where it stopped. With ``devices`` the same dataset, model call and
writer run under Lightning's ``trainer.predict`` (:func:`predict_folder`): data-parallel over N GPUs (DDP), or N
CPU processes without a GPU. With a reference photo, each photo is filled from it in turn.
"""

from __future__ import annotations

import glob
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from unmask.errors import UnmaskError
from unmask.face import detect_faces
from unmask.io import (
    IMAGE_SUFFIXES,
    image_to_tensor,
    load_image,
    load_mask,
    mask_to_tensor,
    save_image,
    tensor_to_image,
)
from unmask.occlusion import FACE_KINDS, occlude
from unmask.pipeline import (
    REFERENCE_MODEL,
    PhotoJob,
    PhotoPreparer,
    ReferenceWarning,
    Unmasker,
    UnmaskResult,
    grow_mask,
)
from unmask.provenance import provenance_metadata
from unmask.runplan import SETTINGS_KEY, Resume, check_names, file_digest


@dataclass(frozen=True)
class Task:
    """One photo to process: where it is read from, where its result (and optional mask) go, the mask file it
    takes (None: found) and the settings recorded in its outputs."""

    source: Path
    target: Path
    mask_target: Path | None = None
    mask_source: Path | None = None
    settings: str = ""


@dataclass
class Prepared:
    """A photo after ``Unmasker.prepare`` (``job``), or the one-line reason it could not be prepared (``error``)."""

    task: Task
    job: PhotoJob | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """A folder run's work: the tasks still to do, the inputs that failed before starting, what resume decided."""

    tasks: list[Task]
    failures: list[str] = field(default_factory=list)
    resume: Resume = field(default_factory=Resume)


def _remove_partial(target: Path) -> None:
    """Delete temporary files that ``save_image`` left for ``target`` when a run was killed mid-write."""
    for leftover in glob.glob(str(target.parent / f".{glob.escape(target.name)}.*{glob.escape(target.suffix)}")):
        Path(leftover).unlink(missing_ok=True)


def find_mask(photo: Path, folder: Path) -> Path | None:
    """The mask of ``photo`` in ``folder``: ``<stem>.mask.png`` (as ``unmask detect`` writes it), else, when the
    masks have a folder of their own, ``<stem>.<any image suffix>``; None when there is none."""
    names = [f"{photo.stem}.mask.png"]
    if folder.resolve() != photo.parent.resolve():  # next to the photos, a.jpg is not the mask of a.png
        names += [f"{photo.stem}{suffix}" for suffix in IMAGE_SUFFIXES]
    return next((folder / name for name in names if (folder / name).is_file()), None)


def plan(inputs: list[Path], out_dir: Path, save_mask: bool = False, masks: Path | None = None,
         settings: Callable[[Path | None], str] = lambda mask: "", overwrite: bool = False) -> Plan:
    """Every output name of the run checked before anything is written (see ``unmask.runplan.check_names``), the
    mask of each photo from ``masks`` (a file for one photo, or a folder matched by name: ``find_mask``) and the
    tasks still to do: outputs made earlier with the same settings (``settings(mask file or None)``) are skipped
    unless ``overwrite``.

    Photos that are the mask of another input (``--mask`` pointing at the photos' own folder) are not processed.
    """
    matched: dict[Path, Path | None] = dict.fromkeys(inputs)
    failures: list[str] = []
    if masks is not None and masks.is_dir():
        matched = {path: find_mask(path, masks) for path in inputs}
        used = {mask.resolve() for mask in matched.values() if mask is not None}
        inputs = [path for path in inputs if path.resolve() not in used]
        failures = [f"{path}: no mask for it in {masks} (looked for {path.stem}.mask.png or {path.stem}.png)"
                    for path in inputs if matched[path] is None]
        inputs = [path for path in inputs if matched[path] is not None]
    elif masks is not None:
        if len(inputs) != 1:
            raise UnmaskError("--mask FILE works with one input image; pass a folder of masks (--mask DIR) for many")
        if not masks.is_file():
            raise UnmaskError(f"{masks}: no such mask file or folder")
        matched[inputs[0]] = masks
    outputs = {path: [out_dir / path.name] + ([out_dir / f"{path.stem}.mask.png"] if save_mask else [])
               for path in inputs}
    check_names(outputs)
    run = Plan([], failures)
    for path, targets in outputs.items():
        mask = matched[path]
        task_settings = settings(mask)
        if not run.resume.decide(targets, task_settings, overwrite):
            continue
        for target in targets:
            _remove_partial(target)
        run.tasks.append(Task(path, targets[0], targets[1] if save_mask else None, mask, task_settings))
    return run


def load_given_mask(path: Path, shape: tuple[int, ...], grow: int = 0) -> tuple[np.ndarray, list[str]]:
    """A mask file (white = hole) as uint8 (H, W) for a photo of ``shape``, resized when its size differs (with a
    note saying so) and grown by ``grow`` px; returns the mask and the notes."""
    mask = load_mask(path)
    notes = []
    if mask.shape != tuple(shape[:2]):
        notes.append(f"{path.name} is {mask.shape[1]}x{mask.shape[0]} but the photo is {shape[1]}x{shape[0]}: "
                     "resized to fit")
        mask = cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR) > 0.25
    return grow_mask(mask, grow), notes


class PhotoDataset(Dataset):
    """Map-style dataset of tasks -> ``Prepared`` (so Lightning can shard it over devices); picklable.

    ``grow``: px a given mask is grown by (found masks are grown by the preparer's own ``grow``).
    """

    def __init__(self, tasks: list[Task], preparer: PhotoPreparer, grow: int = 0) -> None:
        self.tasks, self.preparer, self.grow = tasks, preparer, grow

    def __len__(self) -> int:
        return len(self.tasks)

    def __getitem__(self, index: int) -> Prepared:
        task = self.tasks[index]
        try:
            image = load_image(task.source)
            mask, notes = (None, []) if task.mask_source is None else load_given_mask(task.mask_source, image.shape,
                                                                                     self.grow)
            return Prepared(task, job=self.preparer(image, mask), notes=notes)
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


def save_outputs(task: Task, result: UnmaskResult, model_label: str) -> None:
    """Write a task's mask (when asked) and then its result, atomically, each recording the run's settings."""
    stamp = {SETTINGS_KEY: task.settings}
    if task.mask_target is not None:
        save_image(task.mask_target, result.mask * 255, stamp)
    save_image(task.target, result.image, provenance_metadata(model_label, result.mask) | stamp)


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
            for note in item.notes:
                self.report(f"{item.task.source.name}: {note}")
            if item.job is None:
                self.report(item.error or f"{item.task.source}: failed")
                self.failed += 1
                continue
            crops = [tensor_to_image(next(outputs)) for _ in item.job.jobs]
            result = self.unmasker.finish(item.job, crops)
            for note in result.notes:
                self.report(f"{item.task.source.name}: {note}")
            save_outputs(item.task, result, self.model_label)
            self.written += 1


def _loader(dataset: PhotoDataset, batch_size: int, workers: int) -> DataLoader:
    """Batches of ``batch_size`` prepared photos, prepared ``workers`` processes ahead (0 = in this process).

    Loader processes are spawned, not forked: a fork copies MediaPipe's FaceMesh state without its threads
    when this process has already detected a face, and the child then hangs or aborts in FaceMesh.
    """
    return DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate,
                      prefetch_factor=2 if workers else None, persistent_workers=False,
                      multiprocessing_context="spawn" if workers else None)


def predict_folder(loader: DataLoader, unmasker: Unmasker, writer: ResultWriter, devices: int,
                   progress: bool = True) -> None:
    """Run ``loader``'s photos through Lightning's ``trainer.predict`` on ``devices`` GPUs (DDP), or ``devices`` CPU
    processes without one; each process takes its share of the photos (Lightning's distributed sampler), fills them
    on its device and writes them with ``writer`` as they come; the counts are then summed over processes."""
    import lightning as L  # start-up time: Lightning takes seconds to import and only --devices runs use it
    from lightning.pytorch.callbacks import BasePredictionWriter

    class FillModule(L.LightningModule):
        """``predict_step``: the model on a batch's face crops; the photos' records stay on the CPU."""

        def __init__(self) -> None:
            super().__init__()
            self.model = unmasker.model  # a submodule, so Lightning moves it to the device

        def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
            """Move only the crop and hole tensors; the photo records are plain CPU data."""
            items, crops, holes = batch
            return items, crops.to(device), holes.to(device)

        def predict_step(self, batch: Any, batch_idx: int) -> tuple[list, torch.Tensor]:
            """(photos, crops (F, 3, S, S), holes (F, 1, S, S)) -> (photos, filled crops (F, 3, S, S))."""
            items, crops, holes = batch
            return items, unmasker.fill(crops, holes) if len(crops) else crops

    class WriteResults(BasePredictionWriter):
        """Write every predicted batch as it comes (nothing is kept), then sum the counts over processes."""

        def write_on_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, prediction: Any,
                               batch_indices: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
            writer.write(*prediction)

        def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            counts = torch.tensor([writer.written, writer.failed], dtype=torch.float64, device=pl_module.device)
            written, failed = trainer.strategy.reduce(counts, reduce_op="sum").tolist()
            writer.written, writer.failed = int(written), int(failed)

    gpu = torch.cuda.is_available()
    trainer = L.Trainer(accelerator="gpu" if gpu else "cpu", devices=devices,
                        strategy="ddp" if devices > 1 else "auto", logger=False, enable_checkpointing=False,
                        enable_model_summary=False, enable_progress_bar=progress,
                        callbacks=[WriteResults(write_interval="batch")])
    trainer.predict(FillModule(), dataloaders=loader, return_predictions=False)


def run_settings(unmasker: Unmasker, grow: int = 0, extra: str = "") -> Callable[[Path | None], str]:
    """The settings record of a photo's outputs from its mask file (None: found and grown by the unmasker)."""
    def settings(mask: Path | None) -> str:
        if mask is None:
            return f"remove model={unmasker.model_name} grow={unmasker.grow} mask=auto{extra}"
        return f"remove model={unmasker.model_name} grow={grow} mask=sha256:{file_digest(mask)}{extra}"

    return settings


def _fill_with_reference(run: Plan, unmasker: Unmasker, reference: np.ndarray, grow: int,
                         writer: ResultWriter) -> None:
    """Each task in turn through ``unmasker(image, reference=...)`` (a reference fill is made per photo, not batched),
    written as it comes; counted in ``writer``."""
    for task in run.tasks:
        try:
            image = load_image(task.source)
            mask, notes = (None, []) if task.mask_source is None else load_given_mask(task.mask_source, image.shape,
                                                                                     grow)
            with warnings.catch_warnings():  # the notes below say it once, without a source line
                warnings.simplefilter("ignore", ReferenceWarning)
                result = unmasker(image, mask=mask, reference=reference)
        except UnmaskError as error:
            writer.report(f"{task.source}: {error}")
            writer.failed += 1
            continue
        for note in notes + result.notes:
            writer.report(f"{task.source.name}: {note}")
        save_outputs(task, result, unmasker.model_name if result.notes else REFERENCE_MODEL)
        writer.written += 1


def remove_folder(inputs: list[Path], out_dir: Path, unmasker: Unmasker, mask: str | Path | None = None,
                  save_mask: bool = False, batch_size: int = 4, workers: int = 0, devices: int | None = None,
                  progress: bool = True, grow: int = 0, overwrite: bool = False,
                  reference: str | Path | None = None) -> tuple[int, int, Plan]:
    """Process ``inputs`` into ``out_dir``; returns (written, failed, the plan: what was skipped and why).

    ``mask``: None (find each photo's mask), a mask file (one photo) or a folder of masks matched by name;
    ``grow``: px given masks are grown by; ``overwrite``: remake outputs an earlier run made with these settings;
    ``reference``: a second, unmasked photo of the same person that every photo's largest face is filled from.
    """
    if batch_size < 1 or workers < 0 or (devices is not None and devices < 1):
        raise UnmaskError("--batch-size and --devices must be at least 1 and --workers at least 0")
    extra, reference_photo = "", None
    if reference is not None:
        unmasker.guided_model()  # refuse before any work when the reference fill cannot run
        reference_photo = load_image(reference)
        extra = f" reference=sha256:{file_digest(Path(reference))}"
    run = plan(inputs, out_dir, save_mask, None if mask is None else Path(mask), run_settings(unmasker, grow, extra),
               overwrite)
    writer = ResultWriter(unmasker, getattr(unmasker.model, "model_name", unmasker.model_name))
    for failure in run.failures:
        writer.report(failure)
    if not run.tasks:
        return 0, len(run.failures), run
    if reference_photo is not None:
        _fill_with_reference(run, unmasker, reference_photo, grow, writer)
        return writer.written, writer.failed + len(run.failures), run
    loader = _loader(PhotoDataset(run.tasks, unmasker.preparer(), grow), batch_size, workers)
    if devices is None:
        with tqdm(total=len(run.tasks), desc="remove", unit="img", disable=not progress or len(run.tasks) < 2) as bar:
            for items, crops, holes in loader:
                writer.write(items, unmasker.fill(crops, holes) if len(crops) else crops)
                bar.update(len(items))
    else:
        predict_folder(loader, unmasker, writer, devices, progress)
    return writer.written, writer.failed + len(run.failures), run


def occlude_folder(inputs: list[Path], out_dir: Path, kind: str, seed: int = 0,
                   ratio: tuple[float, float] | None = None, border: bool | None = None,
                   report: Callable[[str], None] | None = None) -> int:
    """Write ``<name>.png`` (occluded by ``kind``) and ``<name>.mask.png`` (white = hole) for every input into
    ``out_dir`` (``unmask occlude``); photo ``i`` draws from ``default_rng([seed, i])``. Returns how many failed.

    A face kind covers every face found (a photo without one fails); ``ratio`` and ``border`` choose the hole-ratio
    bucket and border contact of the other kinds.
    """
    report = report or (lambda line: print(f"unmask: {line}", file=sys.stderr))
    outputs = {path: [out_dir / f"{path.stem}.png", out_dir / f"{path.stem}.mask.png"] for path in inputs}
    check_names(outputs)  # before anything is written: never over an input, never two inputs to one file
    failures = 0
    for index, path in enumerate(tqdm(inputs, desc="occlude", unit="img", disable=len(inputs) < 2)):
        try:
            image = load_image(path)
            rng = np.random.default_rng([seed, index])
            if kind in FACE_KINDS:
                faces = detect_faces(image)
                if not faces:
                    raise UnmaskError(f"{path}: no face found (a {kind} occlusion needs one)")
                hole = np.zeros(image.shape[:2], np.uint8)
                for face in faces:
                    image, mask = occlude(image, kind, rng, face=face)
                    hole |= mask
            else:
                image, hole = occlude(image, kind, rng, ratio=ratio, border=border)
        except UnmaskError as error:
            report(str(error))
            failures += 1
            continue
        save_image(outputs[path][0], image)
        save_image(outputs[path][1], (hole > 0).astype(np.uint8) * 255)
    return failures
