"""scripts/compare_evaluations.py: one table from several evaluation runs, the PConv-layout bucket table, refusals."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_evaluations.py"
SETTINGS = {"data": "prepared/all256", "split": "test", "size": 128, "seed": 0, "limit": None}


def _run_folder(folder: Path, model: str, l1: list[float], settings: dict = SETTINGS) -> Path:
    """A results.json with two strokes images (one touching the border) and their summary row."""
    folder.mkdir()
    per_image = [
        {"model": model, "kind": "strokes", "bucket": "(0.1,0.2]", "border": border, "l1_hole": value}
        for border, value in zip((False, True), l1, strict=True)
    ]
    summary = [{"model": model, "kind": "strokes", "psnr_hole": 20.0 + sum(l1), "ssim_hole": 0.5, "gmsd_hole": 0.2}]
    (folder / "results.json").write_text(json.dumps({"settings": settings, "summary": summary,
                                                     "per_image": per_image}))
    return folder


def _compare(*arguments: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, arguments)], capture_output=True, text=True,
                          check=False)


def test_runs_are_joined_and_bucketed_by_border_contact(tmp_path):
    first = _run_folder(tmp_path / "a", "telea", [4.0, 6.0])
    second = _run_folder(tmp_path / "b", "pconv", [1.0, 3.0])
    result = _compare(first, second, "--buckets", "strokes", "-o", tmp_path / "table.md")
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "table.md").read_text().splitlines()
    assert "| strokes | **30.00 / 0.500 / 0.200** | 24.00 / 0.500 / 0.200 |" in lines
    assert "| model | (0.1,0.2] N | (0.1,0.2] B |" in lines
    assert "| telea | 4.00 | 6.00 |" in lines and "| pconv | 1.00 | 3.00 |" in lines
    assert "| images | 1 | 1 |" in lines


def test_runs_over_other_faces_are_refused(tmp_path):
    first = _run_folder(tmp_path / "a", "telea", [4.0, 6.0])
    second = _run_folder(tmp_path / "b", "pconv", [1.0, 3.0], {**SETTINGS, "limit": 100})
    result = _compare(first, second)
    assert result.returncode != 0 and "evaluated other faces" in result.stderr


def test_a_model_scored_again_in_a_later_run_replaces_its_earlier_scores(tmp_path):
    first = _run_folder(tmp_path / "a", "pconv", [4.0, 6.0])
    again = _run_folder(tmp_path / "b", "pconv", [1.0, 3.0])  # e.g. new weights under the same name
    result = _compare(first, again, "--buckets", "strokes", "-o", tmp_path / "table.md")
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "table.md").read_text().splitlines()
    assert "| strokes | **24.00 / 0.500 / 0.200** |" in lines
    assert "| pconv | 1.00 | 3.00 |" in lines and "| images | 1 | 1 |" in lines
