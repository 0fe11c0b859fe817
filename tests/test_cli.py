import numpy as np
from PIL import Image

from unmask.cli import main
from unmask.io import load_image


def _write_astronaut(folder, astronaut, name="astro.png"):
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(astronaut).save(folder / name)
    return folder / name


def test_occlude_writes_image_and_mask(tmp_path, astronaut):
    _write_astronaut(tmp_path / "in", astronaut)
    assert main(["occlude", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--kind", "surgical"]) == 0
    occluded, mask = load_image(tmp_path / "out" / "astro.png"), load_image(tmp_path / "out" / "astro.mask.png")
    assert occluded.shape == mask.shape == astronaut.shape
    hole = mask[..., 0] > 127
    assert 0.005 < hole.mean() < 0.2
    assert np.array_equal(occluded[~hole], astronaut[~hole])


def test_occlude_holes_ratio_and_border(tmp_path, astronaut):
    _write_astronaut(tmp_path / "in", astronaut)
    args = ["occlude", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--kind", "holes", "--ratio", "0.2-0.3",
            "--no-border", "--seed", "4"]
    assert main(args) == 0
    hole = load_image(tmp_path / "out" / "astro.mask.png")[..., 0] > 127
    assert 0.2 < hole.mean() <= 0.3
    assert not (hole[0].any() or hole[-1].any() or hole[:, 0].any() or hole[:, -1].any())


def test_bad_inputs_fail_cleanly(tmp_path, capsys):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 garbage")
    Image.new("RGB", (64, 64), (128, 128, 128)).save(tmp_path / "flat.png")
    assert main(["occlude", str(tmp_path / "broken.jpg"), "-o", str(tmp_path / "o"), "--kind", "bar"]) == 1
    assert main(["occlude", str(tmp_path / "flat.png"), "-o", str(tmp_path / "o"), "--kind", "bar"]) == 1
    assert main(["detect", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert any("not a readable image" in line for line in errors)
    assert any("no face found" in line for line in errors)
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_outputs_never_overwrite_inputs(tmp_path, astronaut, capsys):
    _write_astronaut(tmp_path, astronaut)
    assert main(["occlude", str(tmp_path / "astro.png"), "-o", str(tmp_path), "--kind", "strokes"]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert np.array_equal(load_image(tmp_path / "astro.png"), astronaut)


def test_detect_finds_a_surgical_mask(tmp_path, astronaut):
    _write_astronaut(tmp_path / "in", astronaut)
    main(["occlude", str(tmp_path / "in"), "-o", str(tmp_path / "occ"), "--kind", "surgical", "--seed", "1"])
    (tmp_path / "occ" / "astro.mask.png").rename(tmp_path / "truth.png")
    assert main(["detect", str(tmp_path / "occ"), "-o", str(tmp_path / "det")]) == 0
    found = load_image(tmp_path / "det" / "astro.mask.png")[..., 0] > 127
    truth = load_image(tmp_path / "truth.png")[..., 0] > 127
    assert found.shape == truth.shape
    assert (found & truth).sum() / (found | truth).sum() > 0.6


def test_remove_resumes_and_keeps_outside_pixels(tmp_path, astronaut):
    _write_astronaut(tmp_path / "in", astronaut)
    main(["occlude", str(tmp_path / "in"), "-o", str(tmp_path / "occ"), "--kind", "bar", "--seed", "2"])
    mask_path = tmp_path / "occ" / "astro.mask.png"
    args = ["remove", str(tmp_path / "occ" / "astro.png"), "-o", str(tmp_path / "out"), "--mask", str(mask_path),
            "--model", "telea", "--save-mask"]
    assert main(args) == 0
    result = tmp_path / "out" / "astro.png"
    edited, occluded = load_image(result), load_image(tmp_path / "occ" / "astro.png")
    hole = load_image(mask_path)[..., 0] > 127
    assert edited.shape == occluded.shape
    assert np.array_equal(edited[~hole], occluded[~hole])
    assert np.abs(edited[hole].astype(int) - astronaut[hole]).mean() < np.abs(
        occluded[hole].astype(int) - astronaut[hole]).mean()
    assert "synthesized" in Image.open(result).text["unmask"]
    stamp = result.stat().st_mtime_ns
    assert main(args) == 0 and result.stat().st_mtime_ns == stamp  # finished files are skipped


def test_remove_mean_face_with_and_without_grain(tmp_path, astronaut):
    """--no-grain leaves out the grain matching; an eye bar, whose ring holds enough of the astronaut's skin to learn
    grain from (around a mask on her the ring is mostly suit, hair and background, and no grain is added)."""
    _write_astronaut(tmp_path / "in", astronaut)
    main(["occlude", str(tmp_path / "in"), "-o", str(tmp_path / "occ"), "--kind", "bar", "--seed", "1"])
    mask_path = tmp_path / "occ" / "astro.mask.png"
    base = ["remove", str(tmp_path / "occ" / "astro.png"), "--mask", str(mask_path), "--model", "mean_face"]
    assert main([*base, "-o", str(tmp_path / "grain")]) == 0
    assert main([*base, "-o", str(tmp_path / "plain"), "--no-grain"]) == 0
    grain, plain = load_image(tmp_path / "grain" / "astro.png"), load_image(tmp_path / "plain" / "astro.png")
    hole = load_image(mask_path)[..., 0] > 127
    assert np.array_equal(grain[~hole], plain[~hole])
    assert not np.array_equal(grain[hole], plain[hole])
    assert np.abs(plain[hole].astype(int) - astronaut[hole]).mean() < 40  # a face in the astronaut's own colours
