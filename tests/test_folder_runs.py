"""Folder runs of ``unmask detect`` and ``remove``: the bulk correction round trip, output planning, resume by settings,
progress in images, model names in --help and the ONNX export notice."""

import numpy as np
import pytest
from PIL import Image

from unmask.batch import remove_folder
from unmask.cli import _announce_onnx_export, main
from unmask.face import detect_faces
from unmask.io import list_images, load_image, save_image
from unmask.models.onnx_export import onnx_cache_path
from unmask.occlusion import occlude
from unmask.pipeline import Unmasker, grow_mask
from unmask.runplan import SETTINGS_KEY


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut):
    """Two masked photos of 256²: ``in/a.png`` (surgical mask) and ``in/b.jpg`` (the same, shifted)."""
    root = tmp_path_factory.mktemp("photos")
    small = np.asarray(Image.fromarray(astronaut).resize((256, 256), Image.LANCZOS))
    occluded, _ = occlude(small, "surgical", np.random.default_rng(0), face=detect_faces(small)[0])
    save_image(root / "in" / "a.png", occluded)
    save_image(root / "in" / "b.jpg", np.roll(occluded, 9, axis=1))
    return root / "in"


def _white(path):
    return load_image(path)[..., 0] > 127


def test_detect_edit_remove_round_trip(photos, tmp_path, capsys):
    masks = tmp_path / "masks"
    assert main(["detect", str(photos), "-o", str(tmp_path / "plain")]) == 0
    assert main(["detect", str(photos), "-o", str(masks), "--grow", "4"]) == 0
    plain, grown = _white(tmp_path / "plain" / "a.mask.png"), _white(masks / "a.mask.png")
    assert plain.any() and (grown >= plain).all() and grown.sum() > plain.sum() * 1.05
    assert Image.open(masks / "a.mask.png").text[SETTINGS_KEY] == "detect method=auto threshold=default grow=4"
    assert main(["detect", str(photos / "a.png"), "-o", str(tmp_path / "low"), "--threshold", "-4"]) == 0
    assert _white(tmp_path / "low" / "a.mask.png").sum() > plain.sum()
    # edit: paint a patch the detector missed into a's mask; save b's mask at half size under the name b.png
    edited = grown.copy()
    edited[200:230, 20:60] = True
    save_image(masks / "a.mask.png", edited.astype(np.uint8) * 255)
    half = Image.open(masks / "b.mask.png").resize((128, 128))
    (masks / "b.mask.png").unlink()
    half.save(masks / "b.png")
    capsys.readouterr()
    args = ["remove", str(photos), "--mask", str(masks), "-o", str(tmp_path / "out"), "--model", "telea", "--save-mask"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "b.png is 128x128 but the photo is 256x256: resized" in err
    result, before = load_image(tmp_path / "out" / "a.png"), load_image(photos / "a.png")
    assert np.array_equal(_white(tmp_path / "out" / "a.mask.png"), edited)
    changed = (result != before).any(axis=2)  # a filled pixel may equal the photo's by chance (Telea, flat skin)
    assert changed[edited].mean() > 0.995 and not changed[~edited].any()
    assert _white(tmp_path / "out" / "b.mask.png").sum() > 0.9 * grown.sum()
    # editing a mask again remakes only that photo's result
    stamp_b = (tmp_path / "out" / "b.jpg").stat().st_mtime_ns
    edited[20:40, 20:40] = True
    save_image(masks / "a.mask.png", edited.astype(np.uint8) * 255)
    assert main(args) == 0
    assert np.array_equal(_white(tmp_path / "out" / "a.mask.png"), edited)
    assert (tmp_path / "out" / "b.jpg").stat().st_mtime_ns == stamp_b
    assert "skipped 1 made earlier with the same model and settings" in capsys.readouterr().out


def test_a_missing_mask_fails_that_photo_only(photos, tmp_path, capsys):
    masks = tmp_path / "masks"
    save_image(masks / "a.mask.png", np.full((256, 256), 255, np.uint8))
    assert main(["remove", str(photos), "--mask", str(masks), "-o", str(tmp_path / "out"), "--model", "telea"]) == 1
    assert "b.jpg: no mask for it in" in capsys.readouterr().err
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["a.png"]


def test_masks_next_to_the_photos_are_not_taken_for_photos(tmp_path, capsys):
    for name in ("a.png", "c.png", "c.jpg"):
        save_image(tmp_path / "in" / name, np.full((32, 32, 3), 90, np.uint8))
    save_image(tmp_path / "in" / "a.mask.png", np.pad(np.full((8, 8), 255, np.uint8), 12))
    assert main(["remove", str(tmp_path / "in"), "--mask", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                 "--model", "telea"]) == 1
    err = capsys.readouterr().err  # c.jpg is not taken for the mask of c.png, nor the other way round
    assert "c.png: no mask for it" in err and "c.jpg: no mask for it" in err and "a.mask.png" not in err
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["a.png"]


@pytest.mark.parametrize("names, clash", [(("a.jpg", "a.png"), "a.mask.png"), (("b.png", "b.mask.png"), "b.mask.png")])
def test_colliding_outputs_are_refused_before_anything_is_written(tmp_path, capsys, names, clash):
    for name in names:
        save_image(tmp_path / "in" / name, np.zeros((16, 16, 3), np.uint8))
    for command in (["remove", "--save-mask", "--model", "telea"], ["detect"], ["occlude", "--kind", "holes"]):
        if command[0] != "remove" and names[1] == "b.mask.png":
            continue  # detect and occlude write b.mask.mask.png for it: no clash
        assert main([*command, str(tmp_path / "in"), "-o", str(tmp_path / "out")]) == 2
        line = capsys.readouterr().err.strip()
        written = "a.png" if command[0] == "occlude" else clash  # occlude writes <stem>.png for a.jpg and a.png
        assert line.count("\n") == 0 and all(name in line for name in names) and f"out/{written};" in line
        assert not (tmp_path / "out").exists()


def test_detect_refuses_an_input_folder_before_writing(photos, tmp_path, capsys):
    before = sorted(path.name for path in photos.iterdir())
    assert main(["detect", str(photos), "-o", str(photos)]) == 2
    assert "choose another output folder" in capsys.readouterr().err
    assert sorted(path.name for path in photos.iterdir()) == before
    assert main(["detect", str(photos), "-o", str(tmp_path), "--method", "kmeans", "--threshold", "1"]) == 2


def test_resume_skips_only_outputs_made_with_the_same_model(photos, tmp_path, capsys):
    source = photos / "a.png"
    mask = tmp_path / "hole.png"
    save_image(mask, np.pad(np.full((60, 80), 255, np.uint8), ((150, 46), (88, 88))))
    result = tmp_path / "out" / "a.png"

    def run(*extra):
        code = main(["remove", str(source), "--mask", str(mask), "-o", str(tmp_path / "out"), *extra])
        return code, capsys.readouterr().out, result.stat().st_mtime_ns

    _, _, first = run("--model", "telea")
    _, out, second = run("--model", "ns")
    assert second != first and "remade 1 made earlier with other settings" in out
    assert Image.open(result).text["unmask_model"] == "ns"
    _, out, third = run("--model", "ns")
    assert third == second and "wrote 0 image(s)" in out and "skipped 1 made earlier with the same model" in out
    _, out, fourth = run("--model", "ns", "--overwrite")
    assert fourth != third and "wrote 1 image(s)" in out
    save_image(result, np.zeros((8, 8, 3), np.uint8))  # a file unmask did not make
    _, out, _ = run("--model", "ns")
    assert "skipped 1 already there but not made by unmask" in out and load_image(result).shape == (8, 8, 3)


def test_progress_counts_images(tmp_path, capsys):
    for index in range(3):
        save_image(tmp_path / "in" / f"p{index}.png", np.full((32, 32, 3), 60 * index, np.uint8))
        save_image(tmp_path / "masks" / f"p{index}.png", np.pad(np.full((8, 8), 255, np.uint8), 12))
    written, failed, _ = remove_folder(list_images([tmp_path / "in"]), tmp_path / "out", Unmasker("telea"),
                                       mask=tmp_path / "masks", save_mask=True, batch_size=2, grow=2)
    assert (written, failed) == (3, 0)
    err = capsys.readouterr().err
    assert "3/3" in err and "img" in err and "no face found: the hole was filled" in err
    given = _white(tmp_path / "masks" / "p0.png")
    assert np.array_equal(_white(tmp_path / "out" / "p0.mask.png"), grow_mask(given, 2) > 0)  # --grow on given masks
    assert grow_mask(given, 2).sum() > given.sum()


def test_help_lists_models_and_first_onnx_run_is_announced(tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit):
        main(["remove", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(name in text for name in ("pconv", "deepfill", "dmfn", "hog", "telea", "biharmonic"))
    monkeypatch.setenv("UNMASK_CACHE", str(tmp_path))
    assert _announce_onnx_export("pconv", "onnxruntime") is not None
    assert "exporting pconv to ONNX (once, about" in capsys.readouterr().err
    onnx_cache_path("pconv").write_bytes(b"cached")
    assert _announce_onnx_export("pconv", "onnxruntime") is None and _announce_onnx_export("pconv", "torch") is None


def test_remove_with_a_reference_photo_runs_the_folder_and_resumes(astronaut, tmp_path, capsys):
    save_image(tmp_path / "in" / "a.png", astronaut)
    hole = np.zeros(astronaut.shape[:2], np.uint8)
    hole[300:360, 200:300] = 255
    save_image(tmp_path / "in" / "a.mask.png", hole)
    save_image(tmp_path / "reference.png", astronaut)
    command = ["remove", str(tmp_path / "in" / "a.png"), "-o", str(tmp_path / "out"), "--mask", str(tmp_path / "in"),
               "--model", "telea", "--reference", str(tmp_path / "reference.png")]
    assert main(command) == 0
    result = load_image(tmp_path / "out" / "a.png")
    assert np.array_equal(result[hole == 0], astronaut[hole == 0])
    assert "reference=sha256:" in Image.open(tmp_path / "out" / "a.png").text[SETTINGS_KEY]
    assert main(command) == 0 and "wrote 0 image(s)" in capsys.readouterr().out  # the same settings: skipped
