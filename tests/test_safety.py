"""Safety: weights only from safetensors with a recorded sha256 (no pickle), no network on the default path, and
a server that never reads or writes a path a client names.
"""

from __future__ import annotations

import ast
import io
import pickle
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from unmask.cli import main
from unmask.errors import UnmaskError
from unmask.models import create_model, load, pretrained
from unmask.pipeline import Unmasker
from unmask.run_folder import load_checkpoint

SRC = Path(__file__).resolve().parents[1] / "src" / "unmask"
PICKLE_ALLOWED = {  # training checkpoints and VGG features, both read with torch's weights-only unpickler
    "run_folder.py", "nets/vgg.py",
}


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A tiny DeepFill shipped into a temporary weights folder (the real one is left alone)."""
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path)
    pretrained.load_pretrained.cache_clear()
    torch.manual_seed(0)
    state = create_model("deepfill", cnum=4, in_size=64).state_dict()
    path = pretrained.save_shipped("deepfill", state, {"model": "deepfill", "kwargs": {"cnum": 4, "in_size": 64},
                                                       "size": 64}, directory=tmp_path)
    yield path
    pretrained.load_pretrained.cache_clear()


@pytest.fixture
def no_pickle_no_network(monkeypatch):
    """Make any unpickling or socket use fail loudly."""
    def refuse(*args, **kwargs):
        raise AssertionError("pickle or network used on the default path")

    for target, name in ((torch, "load"), (pickle, "load"), (pickle, "loads"), (socket, "socket"),
                         (socket, "create_connection"), (socket, "getaddrinfo")):
        monkeypatch.setattr(target, name, refuse)


def test_weights_load_without_pickle_and_sha256_is_checked(shipped, no_pickle_no_network, astronaut):
    model = pretrained.load_pretrained("deepfill")
    assert model.input_size == 64 and not model.training
    result = Unmasker("deepfill")(astronaut, mask=_mouth_hole(astronaut))
    assert result.mask.any()
    data = bytearray(shipped.read_bytes())
    data[-3] ^= 0xFF  # one flipped byte in the weights
    shipped.write_bytes(bytes(data))
    pretrained.load_pretrained.cache_clear()
    with pytest.raises(UnmaskError, match="sha256 does not match"):
        pretrained.load_pretrained("deepfill")


def _mouth_hole(photo: np.ndarray) -> np.ndarray:
    hole = np.zeros(photo.shape[:2], np.uint8)
    hole[160:200, 200:260] = 255
    return hole


def test_default_path_needs_no_network(no_pickle_no_network, astronaut, tmp_path):
    Image.fromarray(astronaut).save(tmp_path / "astro.png")
    assert main(["remove", str(tmp_path / "astro.png"), "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "astro.png").is_file()
    assert load("telea", "onnxruntime") is not None


def test_pickle_appears_only_where_allowed():
    """No module on the inference path calls torch.load / pickle.load(s); the allowed ones are training-only, and
    every torch.load in the package and the scripts passes weights_only=True."""
    offenders, unsafe = set(), set()
    for path in [*SRC.rglob("*.py"), *(SRC.parents[1] / "scripts").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(
                    node.func.value, ast.Name) and (node.func.value.id, node.func.attr) in (
                    ("torch", "load"), ("pickle", "load"), ("pickle", "loads")):
                offenders.add(str(path.relative_to(SRC)) if SRC in path.parents else path.name)
                if not any(keyword.arg == "weights_only" and getattr(keyword.value, "value", None) is True
                           for keyword in node.keywords):
                    unsafe.add(f"{path.name}:{node.lineno}")
    assert offenders <= PICKLE_ALLOWED, offenders - PICKLE_ALLOWED
    assert not unsafe, unsafe


class _RunsCode:
    """Pickles into a call of ``exec`` that writes ``marker``: what a crafted checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",)


def test_a_pickled_checkpoint_is_refused_before_its_code_runs(tmp_path, tiny_prepared, capsys):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("model:\n  generator:\n    name: deepfill\n    kwargs: {cnum: 4, in_size: 64}\n")
    marker = tmp_path / "code-ran.txt"
    crafted = run / "checkpoints" / "last.ckpt"
    torch.save({"state_dict": {}, "global_step": 1, "extra": _RunsCode(marker)}, crafted)
    for models in (str(run), str(crafted)):  # a run folder, or its checkpoint named directly
        assert main(["evaluate", "--models", models, "--data", str(tiny_prepared), "--split", "test",
                     "-o", str(tmp_path / "eval")]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "refused: not a checkpoint of plain tensors" in error, error
        assert "it asks for exec" in error and "Traceback" not in error
    assert not marker.exists()
    crafted.write_bytes(crafted.read_bytes()[:100])
    with pytest.raises(UnmaskError, match="not a readable checkpoint"):
        load_checkpoint(crafted)


def test_server_never_touches_client_paths(tmp_path, astronaut, monkeypatch):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from unmask.server.app import create_app
    from unmask.server.settings import Settings

    monkeypatch.chdir(tmp_path)
    target = tmp_path / "evil.png"
    buffer = io.BytesIO()
    Image.fromarray(astronaut).save(buffer, format="PNG")
    settings = Settings(max_upload_bytes=4 << 20, max_pixels=4_000_000, study_db=tmp_path / "study.sqlite")
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        for name in (str(target), "../../evil.png", "evil.png", "/etc/passwd", "..\\..\\evil.png"):
            response = client.post("/api/v1/remove", files={"image": (name, buffer.getvalue()),
                                                            "mask": (str(target), _png(_mouth_hole(astronaut)))},
                                   data={"model": "telea"})
            assert response.status_code == 200, response.text[:200]
            disposition = response.headers["content-disposition"]
            assert "/" not in disposition.split("filename=")[1] and "\\" not in disposition
        response = client.post("/api/v1/remove", data={"model": "telea", "image": "/etc/passwd"})
        assert response.status_code == 422
    assert not target.exists() and {path.name for path in tmp_path.iterdir()} <= {"study.sqlite"}


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _tiny_graph(path: Path, op: str, claim: str) -> None:
    """A loadable two-input ONNX graph, ``output = op(image)``, whose metadata claims ``claim`` as its weights."""
    import onnx
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["b", channels, "h", "w"])
              for name, channels in (("image", 3), ("mask", 1))]
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["b", 3, "h", "w"])
    graph = helper.make_graph([helper.make_node(op, ["image"], ["output"])], "tiny", inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    helper.set_model_props(model, {"unmask_weights": claim, "unmask_model": "pconv"})
    onnx.save(model, path)


def test_the_onnx_cache_trusts_the_file_hash_not_the_file_claim(tmp_path, monkeypatch):
    from unmask.models import onnx_export

    monkeypatch.setenv("UNMASK_CACHE", str(tmp_path / "cache"))
    claim = f"shipped:{pretrained.card('pconv')['sha256']}"
    exports = []

    def export_onnx(model, path):  # stands in for the real (slow) export of the shipped weights
        exports.append(path)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        _tiny_graph(Path(path), "Identity", claim)
        return Path(path)

    monkeypatch.setattr(onnx_export, "export_onnx", export_onnx)
    path = onnx_export.shipped_onnx("pconv", None)
    genuine = path.read_bytes()
    assert onnx_export.shipped_onnx("pconv", None) == path and len(exports) == 1  # reused: sha256 matches the record
    _tiny_graph(path, "Neg", claim)  # swapped for another graph that claims the same weights
    assert onnx_export.shipped_onnx("pconv", None) == path and len(exports) == 2  # exported again
    assert path.read_bytes() == genuine
    assert (tmp_path / "cache").stat().st_mode & 0o777 == 0o700
