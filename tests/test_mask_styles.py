"""Training looks for the occlusion detector: random prints on a drawn mask, ear loops and straps in the label."""

import numpy as np
import pytest

from unmask.data.manifest import read_manifest
from unmask.data.mask_styles import PRINTS, draw_straps, random_colour, random_print, restyle_mask
from unmask.data.segmentation import OccluderCrops, OccluderDataModule
from unmask.face.align import align_face, transform_face
from unmask.face.detect import detect_faces
from unmask.occlusion import face_mask


@pytest.fixture(scope="module")
def masked(astronaut):
    """The astronaut's aligned 128² crop, its face, and a surgical mask drawn on it."""
    face = detect_faces(astronaut)[0]
    aligned = align_face(astronaut, face, size=128)
    crop_face = transform_face(face, aligned.matrix)
    occluded, mask = face_mask(aligned.image, crop_face, np.random.default_rng(0), "surgical")
    return occluded, mask, crop_face


def test_random_prints_cover_dark_and_patterned_looks():
    rng = np.random.default_rng(0)
    prints = [random_print((40, 60), 60.0, rng) for _ in range(60)]
    assert all(p.shape == (40, 60, 3) and p.dtype == np.float32 and 0 <= p.min() and p.max() <= 1 for p in prints)
    spreads = [float(p.std(axis=(0, 1)).max()) for p in prints]
    assert min(spreads) < 1e-4 and max(spreads) > 0.1  # solid colours and real patterns both occur
    colours = np.array([random_colour(rng) for _ in range(400)])
    assert (colours.max(1) < 0.3).mean() > 0.1  # black, navy and brown masks are drawn
    assert len(PRINTS) == 7


def test_restyle_changes_only_the_mask_and_keeps_its_shading(masked):
    occluded, mask, _ = masked
    changed_any = False
    for seed in range(8):
        out = restyle_mask(occluded, mask, np.random.default_rng(seed))
        assert out.shape == occluded.shape and out.dtype == np.uint8
        assert np.array_equal(out[mask == 0], occluded[mask == 0])
        changed_any |= bool(np.abs(out[mask > 0].astype(int) - occluded[mask > 0]).mean() > 10)
    assert changed_any
    assert restyle_mask(occluded, np.zeros_like(mask), np.random.default_rng(0)) is occluded


def test_straps_reach_outside_the_mask_and_every_changed_pixel_is_labelled(masked):
    occluded, mask, face = masked
    for seed in range(12):
        out, label = draw_straps(occluded, mask, face, np.random.default_rng(seed))
        assert np.array_equal(label[mask > 0], mask[mask > 0])  # the mask stays labelled
        changed = (out != occluded).any(2)
        assert changed.any() and not (changed & (label == 0)).any()
        xs = np.nonzero(mask)[1]
        added = np.nonzero(label & (mask == 0))[1]
        assert added.min() < xs.min() and added.max() > xs.max()  # loops on both sides, beyond the mask


def test_training_crops_use_the_looks_only_when_asked(tiny_prepared):
    manifest = read_manifest(tiny_prepared)
    plain = OccluderCrops(manifest, size=48, clean_share=0.0, base_seed=2, weights={"surgical": 1.0})
    styled = OccluderCrops(manifest, size=48, clean_share=0.0, base_seed=2, weights={"surgical": 1.0},
                           restyle=1.0, straps=1.0)
    for index in range(3):
        (image_a, mask_a), (image_b, mask_b) = plain[index], styled[index]
        assert mask_b.sum() > mask_a.sum()  # loops are in the label
        assert not np.allclose(image_a.numpy(), image_b.numpy())


def test_skin_toned_prints_take_the_colour_of_the_skin_above_the_mask(masked):
    occluded, mask, _ = masked
    top = int(np.nonzero(mask)[0].min())
    skin = np.median(occluded[max(0, top - 12):top, np.nonzero(mask.any(0))[0]].reshape(-1, 3), axis=0)

    def distance(skin_toned: float) -> float:
        outs = [restyle_mask(occluded, mask, np.random.default_rng(seed), skin_toned) for seed in range(12)]
        return float(np.median([np.abs(np.median(out[mask > 0], axis=0) - skin).mean() for out in outs]))

    assert distance(1.0) < 0.5 * distance(0.0)


def test_the_data_module_gives_the_looks_to_training_only(tiny_prepared):
    data = OccluderDataModule(str(tiny_prepared), size=32, batch_size=2, num_workers=0, restyle=0.7, straps=0.4,
                              skin_toned=0.3)
    data.setup()
    train, val = data.splits["train"], data.splits["val"]
    assert (train.restyle, train.straps, train.skin_toned) == (0.7, 0.4, 0.3)
    assert (val.restyle, val.straps) == (0.0, 0.0)
