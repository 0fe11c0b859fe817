"""ONNX export, parity with PyTorch, the ONNX Runtime backend behind remove / evaluate, and the shipped-graph cache.

One tiny DeepFill (cnum 4) is exported once for the module through ``unmask export`` (the exporter dominates the
time); every test reuses that file.
"""

import json
import shutil

import numpy as np
import onnx
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from unmask.cli import main
from unmask.errors import UnmaskError
from unmask.export import PARITY_TOLERANCE, max_abs_difference, parity_batch
from unmask.io import list_images, load_image
from unmask.models import create_model, load, pretrained
from unmask.models.onnx_backend import OnnxInpainter
from unmask.models.pretrained import save_shipped
from unmask.pipeline import Unmasker

KWARGS = {"cnum": 4, "in_size": 64}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(torch model, its .safetensors with a record beside it, the exported .onnx) for a seeded tiny DeepFill."""
    root = tmp_path_factory.mktemp("export")
    torch.manual_seed(3)
    model = create_model("deepfill", **KWARGS).eval()
    weights = save_shipped("deepfill", model.state_dict(), {"model": "deepfill", "kwargs": KWARGS, "size": 64},
                           directory=root / "weights")
    model.load_state_dict({key: value.float() for key, value in load_file(str(weights)).items()})  # fp16-rounded
    path = root / "tiny.onnx"
    assert main(["export", "--model", "deepfill", "--weights", str(weights), "-o", str(path)]) == 0
    return model, weights, path


def test_export_is_one_file_with_metadata_and_matches_torch(exported, capsys):
    model, weights, path = exported
    assert [p.name for p in path.parent.iterdir() if p.is_file()] == ["tiny.onnx"]  # no external data, no temp
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    meta = {entry.key: entry.value for entry in proto.metadata_props}
    assert meta["unmask_model"] == "deepfill" and json.loads(meta["unmask_kwargs"]) == KWARGS
    assert meta["unmask_size"] == "64" and meta["unmask_weights"] == f"file:{pretrained.sha256_of(weights)}"
    onnx_model = OnnxInpainter(path)
    assert onnx_model.input_size == 64
    for batch, height, width in ((3, 64, 64), (1, 96, 128)):  # dynamic batch, height and width
        image = torch.rand(batch, 3, height, width)
        mask = torch.zeros(batch, 1, height, width)
        mask[..., height // 3: height * 2 // 3, width // 4: width // 2] = 1
        assert max_abs_difference(model, onnx_model, image, mask) <= PARITY_TOLERANCE
    with pytest.raises(UnmaskError, match="divisible by 8"):
        onnx_model(torch.rand(1, 3, 60, 64), torch.zeros(1, 1, 60, 64))


def test_parity_on_real_faces(exported, shared_data):
    model, _, path = exported
    photos = [load_image(photo) for photo in list_images([shared_data / "faces"])[:6]]
    image, mask = parity_batch(64, photos)
    assert len(image) >= 6 and mask.sum() > 0
    assert max_abs_difference(model, OnnxInpainter(path), image, mask) <= PARITY_TOLERANCE


def test_bad_weights_are_refused(exported, tmp_path, capsys):
    _, weights, _ = exported
    out = str(tmp_path / "x.onnx")
    assert main(["export", "--model", "deepfill", "--weights", str(weights), "--sha256", "0" * 64, "-o", out]) == 2
    pickled = tmp_path / "model.pt"
    torch.save({"a": torch.zeros(1)}, pickled)
    assert main(["export", "--model", "deepfill", "--weights", str(pickled), "-o", out]) == 2
    wrong = tmp_path / "wrong.safetensors"
    shutil.copy(weights, wrong)
    assert main(["export", "--model", "deepfill", "--weights", str(wrong), "--arg", "cnum=8", "-o", out]) == 2
    assert main(["export", "--model", "telea", "-o", out]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 4 and all(line.startswith("unmask: error: ") for line in errors)
    assert "sha256" in errors[0] and ".safetensors" in errors[1] and "cannot load" in errors[2]
    assert "classical" in errors[3] and not (tmp_path / "x.onnx").exists()


def test_remove_and_evaluate_with_onnxruntime(exported, tmp_path, astronaut):
    _, _, path = exported
    Image.fromarray(astronaut).save(tmp_path / "astro.png")
    hole = np.zeros(astronaut.shape[:2], np.uint8)
    hole[160:200, 200:260] = 255
    Image.fromarray(hole).save(tmp_path / "hole.png")
    assert main(["remove", str(tmp_path / "astro.png"), "-o", str(tmp_path / "out"), "--mask",
                 str(tmp_path / "hole.png"), "--model", str(path), "--backend", "onnxruntime"]) == 0
    result = load_image(tmp_path / "out" / "astro.png")
    assert np.array_equal(result[hole == 0], astronaut[hole == 0]) and not np.array_equal(result, astronaut)
    assert Image.open(tmp_path / "out" / "astro.png").text["unmask_model"] == "deepfill"
    assert main(["evaluate", "--models", f"telea,{path}", "--data", str(tmp_path), "--occlusions", "holes",
                 "--size", "64", "--limit", "1", "--backend", "onnxruntime", "-o", str(tmp_path / "eval")]) == 0
    rows = json.loads((tmp_path / "eval" / "results.json").read_text())["summary"]
    assert {row["model"] for row in rows} == {"telea", str(path)}


def test_backend_choice_and_shipped_cache(exported, tmp_path, monkeypatch):
    model, weights, path = exported
    assert load("telea", "onnxruntime").__class__.__name__ == "OpenCVInpainter"  # no network to run
    with pytest.raises(UnmaskError, match="backend"):
        load("telea", "tensorrt")
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path / "none")
    with pytest.raises(UnmaskError, match="no shipped weights"):
        load("deepfill", "onnxruntime")
    # shipped weights whose graph is already in the cache, with the sha256 recorded at its export: reused as is
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", weights.parent)
    monkeypatch.setenv("UNMASK_CACHE", str(tmp_path / "cache"))
    pretrained.load_pretrained.cache_clear()
    cached = tmp_path / "cache" / f"deepfill-{pretrained.sha256_of(weights)[:16]}.onnx"
    cached.parent.mkdir()
    shutil.copy(path, cached)
    cached.with_name(f"{cached.name}.sha256").write_text(pretrained.sha256_of(cached))
    stamp = cached.stat().st_mtime_ns
    unmasker = Unmasker("deepfill", backend="onnxruntime")
    assert isinstance(unmasker.model, OnnxInpainter) and unmasker.size == 64
    assert cached.stat().st_mtime_ns == stamp
    pretrained.load_pretrained.cache_clear()


def test_reference_guided_model_exports_with_four_inputs(tmp_path, capsys):
    path = tmp_path / "reference.onnx"
    code = main(["export", "--model", "reference_guided", "--arg", "cnum=4", "--arg", "in_size=64", "-o", str(path)])
    assert code == 0 and "ok" in capsys.readouterr().out
    onnx_model = OnnxInpainter(path)
    assert onnx_model.needs_reference
    assert onnx_model.input_names == ("image", "mask", "reference", "validity")
    image, mask = parity_batch(64)
    with pytest.raises(UnmaskError, match="pass reference and validity"):
        onnx_model(image, mask)
    output = onnx_model(image, mask, image.flip(-1), torch.ones_like(mask))
    assert output.shape == image.shape
    assert torch.equal(output * (1 - mask), image * (1 - mask))


def test_hog_model_exports_without_nan_on_flat_regions(tmp_path, capsys):
    path = tmp_path / "hog.onnx"
    code = main(["export", "--model", "hog", "--arg", "nf=4", "--arg", "blocks=2", "--arg", "in_size=64",
                 "-o", str(path)])
    assert code == 0 and "ok" in capsys.readouterr().out
    image, mask = torch.zeros(1, 3, 64, 64), torch.zeros(1, 1, 64, 64)
    image[..., :, 32:] = 0.5  # flat halves: all-zero HOG blocks, which made 0 / 0 in ONNX Runtime
    mask[..., 16:48, 16:48] = 1
    output = OnnxInpainter(path)(image, mask)
    assert torch.isfinite(output).all()
    assert torch.equal(output * (1 - mask), image * (1 - mask))
