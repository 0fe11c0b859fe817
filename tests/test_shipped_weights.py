"""Every shipped inpainting weight file: fp16, at most 30 MB, its recorded sha256, and it runs end to end."""

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

from unmask.cli import main
from unmask.io import load_image
from unmask.models.pretrained import WEIGHTS_DIR, card, load_pretrained, plain_models, sha256_of, shipped_models

SHIPPED = shipped_models()
PLAIN = plain_models()  # called as model(image, mask); the reference-guided one is tested in test_reference.py


@pytest.mark.parametrize("name", SHIPPED)
def test_weight_file_is_fp16_small_and_recorded(name):
    record = card(name)
    path = WEIGHTS_DIR / record["file"]
    assert path.stat().st_size <= 30 * 1024 * 1024
    assert sha256_of(path) == record["sha256"]
    with safe_open(str(path), framework="pt") as weights:
        assert {weights.get_tensor(key).dtype for key in weights.keys()} == {torch.float16}
    trained = record["trained"]
    assert trained["steps"] > 0 and trained["config"]["model"]["generator"]["name"] == record["model"]


@pytest.mark.parametrize("name", PLAIN)
def test_shipped_model_fills_only_the_hole(name):
    model = load_pretrained(name)
    size = model.input_size
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 2: size * 7 // 8, size // 4: size * 3 // 4] = 1
    with torch.inference_mode():
        output = model(image, mask)
    assert output.shape == image.shape and torch.isfinite(output).all()
    assert 0 <= output.min() and output.max() <= 1
    assert torch.equal(output * (1 - mask), image * (1 - mask))
    assert (output - image).abs()[mask.expand_as(image) > 0].mean() > 0.01


@pytest.mark.parametrize("name", PLAIN)
def test_remove_with_each_shipped_model(tmp_path, astronaut, name):
    (tmp_path / "in").mkdir()
    Image.fromarray(astronaut).save(tmp_path / "in" / "astro.png")
    assert main(["occlude", str(tmp_path / "in"), "-o", str(tmp_path / "occ"), "--kind", "surgical"]) == 0
    mask_path = tmp_path / "occ" / "astro.mask.png"
    assert main(["remove", str(tmp_path / "occ" / "astro.png"), "-o", str(tmp_path / "out"), "--mask",
                 str(mask_path), "--model", name]) == 0
    edited, occluded = load_image(tmp_path / "out" / "astro.png"), load_image(tmp_path / "occ" / "astro.png")
    hole = load_image(mask_path)[..., 0] > 127
    assert edited.shape == astronaut.shape and np.array_equal(edited[~hole], occluded[~hole])
    assert np.abs(edited[hole].astype(int) - astronaut[hole]).mean() < np.abs(
        occluded[hole].astype(int) - astronaut[hole]).mean()
