"""Fault tests: ``kill -9`` a folder run halfway and a training run after its first checkpoint, then resume.

After the rerun every output must be complete, none duplicated or half-written; training must resume from the
step of its last checkpoint, not from zero.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from unmask.io import load_image
from unmask.pipeline import Unmasker
from unmask.train.run import load_config

PHOTOS = 8


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "unmask.cli", *args]


def _kill_when(process: subprocess.Popen, ready, timeout: float = 240.0) -> None:
    """SIGKILL ``process`` as soon as ``ready()`` is true (fails the test if it ends or times out first)."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, process.stderr.read().decode()[-2000:] if process.stderr else "ended early"
        assert time.monotonic() < deadline, "timed out waiting for the run to get halfway"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def test_killed_folder_run_resumes_without_duplicates(tmp_path, astronaut):
    source = tmp_path / "in"
    source.mkdir()
    for index in range(PHOTOS):
        shade = np.clip(astronaut.astype(int) + 6 * index - 20, 0, 255).astype(np.uint8)
        Image.fromarray(shade[:384, 64:448]).save(source / f"p{index}.png")
    out = tmp_path / "out"
    args = _command("remove", str(source), "-o", str(out), "--model", "telea", "--batch-size", "1", "--save-mask")
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _kill_when(process, lambda: len(list(out.glob("p*.png"))) >= 2 * PHOTOS // 2)  # results + masks: ~halfway
    finished = sorted(path.name for path in out.glob("p?.png"))
    assert 0 < len(finished) < PHOTOS, "the kill should land halfway"
    for name in finished:  # whatever exists after the kill is a complete image
        assert load_image(out / name).shape == (384, 384, 3)
    (out / ".p7.png.x1y2z3.png").write_bytes(b"\x89PNG half")  # what a kill inside save_image leaves behind
    stamps = {name: (out / name).stat().st_mtime_ns for name in finished}
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"wrote {PHOTOS - len(finished)} image(s)" in done.stdout
    names = sorted(path.name for path in out.iterdir())
    assert names == sorted([f"p{i}.png" for i in range(PHOTOS)] + [f"p{i}.mask.png" for i in range(PHOTOS)])
    assert all((out / name).stat().st_mtime_ns == stamp for name, stamp in stamps.items())  # not redone
    expected = Unmasker("telea")(load_image(source / "p5.png"))
    assert np.array_equal(load_image(out / "p5.png"), expected.image)
    assert np.array_equal(load_image(out / "p5.mask.png")[..., 0] > 127, expected.mask > 0)


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory, tiny_prepared) -> Path:
    """A training config for the six 64² astronaut crops of ``tiny_prepared``, cnum 4, a checkpoint every 2 steps,
    400 steps."""
    root = tmp_path_factory.mktemp("faults")
    config = load_config("configs/train/deepfill_cpu.yaml", {
        "run_dir": str(root / "run"), "data.data_dir": str(tiny_prepared), "data.size": 64, "data.batch_size": 2,
        "data.num_workers": 0, "model.generator.kwargs.cnum": 4, "model.discriminator.cnum": 8,
        "trainer.max_steps": 400, "trainer.val_check_interval": 1000, "trainer.limit_val_batches": 0,
        "trainer.enable_progress_bar": False, "trainer.log_every_n_steps": 1, "checkpoint_every": 2,
        "sample_every": 1000,
    })
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_killed_training_resumes_from_its_last_checkpoint(tiny_config):
    run = Path(yaml.safe_load(tiny_config.read_text())["run_dir"])
    last = run / "checkpoints" / "last.ckpt"
    process = subprocess.Popen(_command("train", "--config", str(tiny_config)), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _kill_when(process, lambda: last.is_file())
    step = torch.load(last, map_location="cpu", weights_only=False)["global_step"]  # our own checkpoint
    assert 0 < step < 400
    target = step + 4
    done = subprocess.run(_command("train", "--config", str(tiny_config), "--resume", "last", "--max-steps",
                                   str(target)), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == target
    logs = sorted((run / "logs").glob("version_*/metrics.csv"), key=lambda path: path.stat().st_mtime)
    with open(logs[-1]) as handle:
        resumed_steps = [int(row["step"]) for row in csv.DictReader(handle) if row.get("step")]
    assert resumed_steps and min(resumed_steps) >= step - 1  # the resumed run started where the checkpoint was
