"""The evaluation harness: deterministic holes, oracle/zero models bracket the scores, reports written."""

import argparse
import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

import unmask.occlusion
from unmask.eval.cli import add_evaluate_parser, run_evaluate
from unmask.eval.harness import EvalSample, evaluate, load_eval_set, occlusion_rng
from unmask.eval.metrics import PSNR_CAP_DB
from unmask.io import save_image
from unmask.models.registry import list_models, register_model

SIZE = 48
PICTURE = (np.random.default_rng(0).random((SIZE, SIZE, 3)) * 255).astype(np.uint8)
HAS_OCCLUDE = hasattr(unmask.occlusion, "occlude")


def _stand_in_occlude(image, kind, rng, face=None, ratio=None, border=None):
    """Local stand-in for unmask.occlusion.occlude: one random rectangle, painted white."""
    height, width = image.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    y, x = int(rng.integers(0, height // 2)), int(rng.integers(0, width // 2))
    mask[y : y + height // 3, x : x + width // 3] = 1
    occluded = image.copy()
    occluded[mask > 0] = 255
    return occluded, mask


OCCLUDE = unmask.occlusion.occlude if HAS_OCCLUDE else _stand_in_occlude
KINDS = ["thick", "medium"]


class _Constant(nn.Module):
    """Returns a fixed picture (the oracle, as every test image is PICTURE) or zeros."""

    def __init__(self, picture: torch.Tensor) -> None:
        super().__init__()
        self.picture = picture

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.picture.expand_as(image)


@pytest.fixture(scope="module", autouse=True)
def _test_models():
    """Register the oracle and zero models for this module only, so registry walks elsewhere never see them."""
    from unmask.models import registry

    builders = {
        "test_harness_oracle": lambda: _Constant(
            torch.from_numpy(PICTURE).permute(2, 0, 1)[None].float() / 255
        ),
        "test_harness_zeros": lambda: _Constant(torch.zeros(1, 3, 1, 1)),
    }
    for name, builder in builders.items():
        if name not in list_models():
            register_model(name)(builder)
    yield
    for name in builders:
        registry._BUILDERS.pop(name, None)


MODELS = ["test_harness_oracle", "telea", "test_harness_zeros"]


def _images(count: int = 3) -> list[EvalSample]:
    return [EvalSample(PICTURE, None, f"img{i}") for i in range(count)]


def _run(out_dir: Path | None = None, **kwargs):
    return evaluate(
        MODELS,
        _images(),
        KINDS,
        size=SIZE,
        seed=3,
        out_dir=out_dir,
        occlude=OCCLUDE,
        progress=False,
        **kwargs,
    )


def _without_time(rows: list[dict]) -> list[dict]:
    return [{key: value for key, value in row.items() if key != "seconds"} for row in rows]


def test_deterministic() -> None:
    first, second = _run(), _run()
    assert _without_time(first.rows) == _without_time(second.rows)
    assert len(first.rows) == 3 * len(KINDS) * len(MODELS)


def test_same_holes_for_every_model_and_seeded() -> None:
    a = OCCLUDE(PICTURE, "thick", occlusion_rng(3, 1, "thick"))[1]
    b = OCCLUDE(PICTURE, "thick", occlusion_rng(3, 1, "thick"))[1]
    c = OCCLUDE(PICTURE, "thick", occlusion_rng(4, 1, "thick"))[1]
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    rows = _run().rows
    for index in range(3):
        ratios = {row["hole_ratio"] for row in rows if row["index"] == index and row["kind"] == "thick"}
        assert len(ratios) == 1


def test_oracle_perfect_zeros_worst() -> None:
    summary = {(entry["model"], entry["kind"]): entry for entry in _run().summary}
    for kind in KINDS:
        oracle, telea, zeros = (summary[(name, kind)] for name in MODELS)
        assert oracle["l1"] == 0 and oracle["l1_hole"] == 0
        assert oracle["psnr"] == PSNR_CAP_DB and oracle["psnr_hole"] == PSNR_CAP_DB
        assert oracle["ssim"] == pytest.approx(1.0) and oracle["ssim_hole"] == pytest.approx(1.0)
        assert oracle["gmsd"] == pytest.approx(0.0, abs=1e-9)
        assert oracle["vgg_perceptual"] is None and oracle["fd_vgg16"] is None
        assert zeros["l1_hole"] > telea["l1_hole"] > 0
        assert zeros["psnr_hole"] < telea["psnr_hole"] < PSNR_CAP_DB
        assert zeros["ssim_hole"] < 1


def test_reports_written(tmp_path: Path) -> None:
    results = _run(tmp_path, grid_rows=2)
    document = json.loads((tmp_path / "results.json").read_text())
    assert document["settings"]["seed"] == 3 and document["settings"]["models"] == MODELS
    assert len(document["per_image"]) == len(results.rows)
    assert {entry["model"] for entry in document["by_bucket"]} == set(MODELS)
    with open(tmp_path / "results.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == len(results.rows)
    markdown = (tmp_path / "results.md").read_text()
    assert all(f"## {kind}" in markdown for kind in KINDS) and "| telea |" in markdown
    for kind in KINDS:
        assert (tmp_path / f"grid_{kind}.png").stat().st_size > 0
    assert (tmp_path / "metrics_by_bucket.png").stat().st_size > 0


def test_face_kinds_skipped_without_landmarks() -> None:
    with pytest.warns(UserWarning, match="bar: skipped 2"):
        results = evaluate(["telea"], _images(2), ["bar"], size=SIZE, occlude=OCCLUDE, progress=False)
    assert results.rows == [] and results.skipped == {"bar": 2}


def test_limit_and_plain_tuples() -> None:
    images = [(PICTURE, None)] * 5
    results = evaluate(["telea"], images, ["thick"], size=SIZE, limit=2, occlude=OCCLUDE, progress=False)
    assert [row["name"] for row in results.rows] == ["0", "1"]


def test_load_eval_set_from_manifest(tmp_path: Path) -> None:
    from unmask.data.manifest import write_manifest

    rows = []
    for index, split in enumerate(["train", "test", "test"]):
        save_image(tmp_path / f"crop{index}.png", PICTURE)
        rows.append({"path": f"crop{index}.png", "split": split, "source_set": "toy", "identity": str(index)})
    landmarks = np.random.default_rng(1).random((3, 68, 2)).astype(np.float32) * SIZE
    write_manifest(tmp_path, rows, landmarks)
    samples = load_eval_set(tmp_path, split="test")
    assert len(samples) == 2 and samples[0].name == "crop1.png"
    assert np.array_equal(samples[0].image, PICTURE)
    assert np.allclose(samples[1].face.landmarks, landmarks[2])
    assert len(load_eval_set(tmp_path, split="test", limit=1)) == 1


def test_load_eval_set_from_folder(tmp_path: Path) -> None:
    save_image(tmp_path / "a.png", PICTURE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        samples = load_eval_set(tmp_path)
    assert len(samples) == 1 and samples[0].image.shape == (SIZE, SIZE, 3)


@pytest.mark.skipif(not HAS_OCCLUDE, reason="unmask.occlusion.occlude not available yet")
def test_cli(tmp_path: Path) -> None:
    save_image(tmp_path / "faces" / "a.png", PICTURE)
    parser = argparse.ArgumentParser()
    add_evaluate_parser(parser.add_subparsers())
    args = parser.parse_args(
        [
            "evaluate",
            "--models",
            "telea,ns",
            "--data",
            str(tmp_path / "faces"),
            "--occlusions",
            "thick",
            "--size",
            "32",
            "-o",
            str(tmp_path / "out"),
        ]
    )
    assert args.handler(args) == 0 and args.handler is run_evaluate
    assert (tmp_path / "out" / "results.md").is_file()
