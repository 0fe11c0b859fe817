"""``unmask.models.load``: every kind of model spec becomes a ready model with its card, and the CLI commands
``remove``, ``evaluate`` and ``export`` take the same specs. Tiny weights are made in tmp_path."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from unmask.cli import main
from unmask.errors import UnmaskError
from unmask.io import sha256_of
from unmask.models import ModelCard, create_model, load, pretrained

PCONV = {"width": 0.0625, "in_size": 64}


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A tiny PConv shipped into a temporary weights folder (the real one is left alone); its weights file."""
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path / "weights")
    pretrained.load_pretrained.cache_clear()
    torch.manual_seed(0)
    state = create_model("pconv", **PCONV).state_dict()
    yield pretrained.save_shipped("pconv", state, {"model": "pconv", "kwargs": PCONV, "size": 64},
                                  directory=tmp_path / "weights")
    pretrained.load_pretrained.cache_clear()


def _run_folder(root: Path, step: int = 7) -> Path:
    """A training run folder as ``unmask train`` leaves it: config.yaml and checkpoints/last.ckpt (tiny PConv)."""
    run = root / "tiny_run"
    (run / "checkpoints").mkdir(parents=True)
    config = {"model": {"recipe": "pconv", "generator": {"name": "pconv", "kwargs": PCONV}}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    torch.manual_seed(1)
    ema = create_model("pconv", **PCONV).state_dict()
    torch.save({"state_dict": {f"ema.{key}": value for key, value in ema.items()}, "global_step": step},
               run / "checkpoints" / "last.ckpt")
    return run


def _identity_graph(path: Path) -> Path:
    """An ONNX graph with the inpainting inputs that returns the image (as an exported model would)."""
    import onnx
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["b", channels, "h", "w"])
              for name, channels in (("image", 3), ("mask", 1))]
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["b", 3, "h", "w"])
    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["output"])], "tiny", inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    helper.set_model_props(model, {"unmask_model": "pconv", "unmask_size": "64", "unmask_weights": "random"})
    onnx.save(model, path)
    return path


def test_every_kind_of_spec_loads_with_its_card(shipped, tmp_path):
    classical = load("telea")
    assert classical.card == ModelCard("telea", "telea", 256, 1, False, False, "none", None, {})
    untrained = load("deepfill", kwargs={"cnum": 4, "in_size": 64})
    assert (untrained.card.learned, untrained.card.trained, untrained.card.size_multiple) == (True, False, 8)
    assert untrained.input_size == 64 and not untrained.training

    by_name = load("pconv")
    digest = sha256_of(shipped)
    assert by_name.card.weights == f"shipped:{digest}" and by_name.card.sha256 == digest
    assert by_name.card.input_size == 64 and by_name.card.trained

    by_file = load(shipped)  # the record beside the file names the model, its arguments and crop size
    assert by_file.card.model == "pconv" and by_file.card.kwargs == PCONV and by_file.card.weights == f"file:{digest}"
    image, mask = torch.rand(1, 3, 64, 64), torch.zeros(1, 1, 64, 64)
    mask[..., 20:40, 20:40] = 1
    with torch.inference_mode():
        torch.testing.assert_close(by_file(image, mask), by_name(image, mask))
    bare = tmp_path / "bare" / "weights.safetensors"  # no record beside it: the model is named by the caller
    bare.parent.mkdir()
    bare.write_bytes(shipped.read_bytes())
    assert load(bare, model="pconv", kwargs=PCONV).card.input_size == 64
    with pytest.raises(UnmaskError, match="which model"):
        load(bare)
    with pytest.raises(UnmaskError, match="sha256"):
        load(shipped, sha256="0" * 64)

    run = _run_folder(tmp_path)
    from_run = load(run)
    assert from_run.card.label == "tiny_run@7" and from_run.card.weights.startswith("run:")
    assert from_run.card.sha256 == sha256_of(run / "checkpoints" / "last.ckpt")
    assert load(run / "checkpoints" / "last.ckpt").card.label == "tiny_run@7"

    graph = load(_identity_graph(tmp_path / "tiny.onnx"))
    assert graph.card.learned and graph.card.size_multiple == 8 and graph.card.model == "pconv"
    assert graph.card.input_size == 64 and graph.card.sha256 == sha256_of(tmp_path / "tiny.onnx")

    built = create_model("pconv", **PCONV)
    assert load(built) is built and built.card.weights == "given" and built.card.trained


def test_specs_that_cannot_run_are_refused_in_one_line(shipped, tmp_path):
    with pytest.raises(UnmaskError, match="backend"):
        load("telea", "tensorrt")
    with pytest.raises(UnmaskError, match="no shipped weights to run in ONNX Runtime"):
        load(_run_folder(tmp_path), "onnxruntime")
    with pytest.raises(UnmaskError, match=".safetensors"):
        load(tmp_path / "model.pt", model="pconv")
    with pytest.raises(UnmaskError, match="unknown model"):
        load("no_such_model")
    (tmp_path / "empty_run").mkdir()
    (tmp_path / "empty_run" / "config.yaml").write_text("model: {generator: {name: pconv}}\n")
    with pytest.raises(UnmaskError, match="no checkpoints"):
        load(tmp_path / "empty_run")


def test_the_size_check_is_declared_and_shared():
    for name, kwargs, multiple in (("deepfill", {"cnum": 4, "in_size": 64}, 8), ("dmfn", {"nf": 4, "blocks": 1}, 4),
                                   ("hog", {"nf": 4, "blocks": 1, "in_size": 64}, 8)):
        model = load(name, kwargs=kwargs)
        assert model.card.size_multiple == multiple
        with pytest.raises(UnmaskError, match=f"divisible by {multiple}"):
            model(torch.rand(1, 3, 62, 64), torch.zeros(1, 1, 62, 64))


def test_evaluate_and_export_take_a_weights_file_and_a_run_folder(shipped, tmp_path, astronaut):
    run = _run_folder(tmp_path)
    Image.fromarray(astronaut).save(tmp_path / "astro.png")
    assert main(["evaluate", "--models", f"{shipped},{run}", "--data", str(tmp_path), "--occlusions", "holes",
                 "--size", "64", "--limit", "1", "-o", str(tmp_path / "eval")]) == 0
    rows = json.loads((tmp_path / "eval" / "results.json").read_text())["summary"]
    assert {row["model"] for row in rows} == {str(shipped), "tiny_run@7"}
    for spec, name in ((shipped, "file.onnx"), (run, "run.onnx")):
        assert main(["export", "--model", str(spec), "-o", str(tmp_path / name), "--no-check"]) == 0
    meta = load(tmp_path / "run.onnx").metadata
    assert meta["unmask_weights"] == f"run:{sha256_of(run / 'checkpoints' / 'last.ckpt')}"
    assert json.loads(meta["unmask_kwargs"]) == PCONV and meta["unmask_size"] == "64"
    assert load(tmp_path / "file.onnx").metadata["unmask_weights"] == f"file:{sha256_of(shipped)}"



def test_remove_takes_a_weights_file_and_a_run_folder(shipped, tmp_path, astronaut):
    Image.fromarray(astronaut).save(tmp_path / "astro.png")
    hole = np.zeros(astronaut.shape[:2], np.uint8)
    hole[160:200, 200:260] = 255
    Image.fromarray(hole).save(tmp_path / "hole.png")
    for spec, out in ((shipped, "by_file"), (_run_folder(tmp_path), "by_run")):
        assert main(["remove", str(tmp_path / "astro.png"), "-o", str(tmp_path / out), "--mask",
                     str(tmp_path / "hole.png"), "--model", str(spec)]) == 0
        result = np.asarray(Image.open(tmp_path / out / "astro.png").convert("RGB"))
        assert np.array_equal(result[hole == 0], astronaut[hole == 0]) and not np.array_equal(result, astronaut)
