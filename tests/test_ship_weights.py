"""scripts/ship_weights.py: a fine-tuning round keeps the record of the shipped weights it started from."""

import importlib.util
from pathlib import Path

import torch

from unmask.models.pretrained import save_shipped

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ship_weights.py"
spec = importlib.util.spec_from_file_location("ship_weights", SCRIPT)
ship_weights = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ship_weights)


def test_starts_from_reads_the_record_of_the_weights_a_run_fine_tuned(tmp_path):
    trained = {"steps": 300, "total_steps": 500, "batch_size": 8, "images_seen": 2400, "config": {"seed": 1}}
    path = save_shipped("tiny", {"w": torch.ones(2, 2)}, {"model": "tiny", "trained": trained}, directory=tmp_path)
    previous = ship_weights.starts_from(str(path))
    assert previous["total_steps"] == 500 and previous["config"] == {"seed": 1}
    assert previous["sha256"] == ship_weights.sha256_of(path)


def test_starts_from_is_none_without_a_matching_record(tmp_path):
    assert ship_weights.starts_from(None) is None
    path = save_shipped("tiny", {"w": torch.ones(2, 2)}, {"model": "tiny", "trained": {"steps": 1}},
                        directory=tmp_path)
    path.write_bytes(path.read_bytes() + b" ")  # replaced after its record was written: not the recorded weights
    assert ship_weights.starts_from(str(path)) is None
    assert ship_weights.starts_from(str(tmp_path / "missing.safetensors")) is None
