"""The learned occlusion detector: network shapes, losses, data, training run and shipping round trip."""

import numpy as np
import pytest
import torch

from unmask.data.manifest import read_manifest
from unmask.data.segmentation import OccluderCrops, OccluderDataModule, jitter_matrix
from unmask.models.segmenter import OcclusionSegmenter
from unmask.train.run import load_config, train
from unmask.train.segmenter import batch_iou, soft_dice_loss


def test_segmenter_shapes_and_gradients():
    model = OcclusionSegmenter(width=4, depth=3)
    image = torch.rand(2, 3, 32, 32, requires_grad=True)
    logits = model(image)
    assert logits.shape == (2, 1, 32, 32)
    logits.sum().backward()
    assert image.grad is not None and torch.isfinite(image.grad).all()


def test_dice_and_iou_values():
    target = torch.zeros(2, 1, 4, 4)
    target[0, :, :2] = 1  # image 0: top half occluded; image 1: clean
    perfect = target * 20 - 10  # logits: +10 on the occluder, -10 elsewhere
    assert soft_dice_loss(perfect, target) < 0.05
    assert torch.allclose(batch_iou(perfect, target), torch.ones(2))
    half = perfect.clone()
    half[0, :, 1] = -10  # only one of the two occluded rows found
    assert torch.allclose(batch_iou(half, target), torch.tensor([0.5, 1.0]))
    assert soft_dice_loss(-perfect, target) > 0.9


def test_jitter_matrix_is_a_small_similarity():
    matrix = jitter_matrix(np.random.default_rng(0), 128, 0.08, 8.0, 0.04, 256)
    scale = np.sqrt(abs(np.linalg.det(matrix[:, :2])))
    assert 0.5 * 0.92 <= scale <= 0.5 * 1.08
    centre = matrix[:, :2] @ np.array([128.0, 128.0]) + matrix[:, 2]
    assert np.abs(centre - 64).max() <= 0.04 * 128 + 1e-6


def test_dataset_items(tiny_prepared):
    crops = OccluderCrops(read_manifest(tiny_prepared), size=32, clean_share=0.5, base_seed=1)
    masks = []
    for index in range(len(crops)):
        image, mask = crops[index]
        assert image.shape == (3, 32, 32) and mask.shape == (1, 32, 32)
        assert 0 <= image.min() and image.max() <= 1 and set(mask.unique().tolist()) <= {0.0, 1.0}
        masks.append(mask)
    assert torch.equal(crops[0][1], masks[0])  # fixed per index with a base seed
    assert any(m.sum() > 0 for m in masks)


def test_training_mixture_is_configurable_and_validation_keeps_the_default(tiny_prepared):
    from unmask.data.segmentation import DETECTABLE_WEIGHTS

    data = OccluderDataModule(str(tiny_prepared), size=32, batch_size=2, num_workers=0, weights={"bar": 1.0})
    data.setup()
    assert data.splits["train"].mixture.kinds == ("bar",)
    assert set(data.splits["val"].mixture.kinds) == set(DETECTABLE_WEIGHTS)


def test_training_run_and_shipping(tiny_prepared, tmp_path, monkeypatch):
    config = load_config("configs/train/segmenter_cpu.yaml", {
        "run_dir": str(tmp_path / "run"), "data.data_dir": str(tiny_prepared), "data.size": 32,
        "data.batch_size": 2, "data.num_workers": 0, "model.width": 4, "model.depth": 2,
        "trainer.max_steps": 2, "trainer.val_check_interval": 2, "trainer.limit_val_batches": 1,
        "trainer.enable_progress_bar": False, "checkpoint_every": 2, "sample_every": 2,
    })
    run = train(config)
    assert (run / "checkpoints" / "last.ckpt").is_file() and list((run / "samples").glob("step_*.png"))
    data = OccluderDataModule(str(tiny_prepared), size=32, batch_size=2, num_workers=0)
    data.setup()
    assert len(data.splits["train"]) == 4 and len(data.splits["val"]) == 1

    import unmask.face.occluder_net as occluder_net
    from unmask.models.pretrained import save_shipped
    from unmask.run_folder import load_run

    _, step, state = load_run(run, prefix="segmenter.")
    assert step == 2
    monkeypatch.setattr(occluder_net, "DETECTOR_DIR", tmp_path / "detector")
    occluder_net.load_segmenter.cache_clear()
    assert not occluder_net.segmenter_shipped()
    save_shipped("segmenter", state, {"model": "segmenter", "kwargs": {"width": 4, "depth": 2}, "size": 32},
                 directory=tmp_path / "detector")
    assert occluder_net.segmenter_shipped()
    found = occluder_net.learned_occlusion_in_crop(np.full((64, 64, 3), 128, np.uint8))
    assert found.shape == (64, 64) and found.dtype == bool
    occluder_net.load_segmenter.cache_clear()


def test_training_can_start_from_saved_weights(tmp_path):
    from safetensors.torch import save_file

    from unmask.errors import UnmaskError
    from unmask.train.segmenter import SegmenterModule

    source = OcclusionSegmenter(width=4, depth=2)
    path = tmp_path / "start.safetensors"
    save_file({key: value.half() for key, value in source.state_dict().items()}, str(path))
    module = SegmenterModule(width=4, depth=2, init_from=str(path))
    for key, value in source.state_dict().items():
        torch.testing.assert_close(module.segmenter.state_dict()[key].float(), value.half().float())
    with pytest.raises(UnmaskError, match="no such weights file"):
        SegmenterModule(width=4, depth=2, init_from=str(tmp_path / "missing.safetensors"))


@pytest.mark.parametrize("method", ["kmeans", "nonsense"])
def test_find_occlusions_method_choice(astronaut, method):
    from unmask.errors import UnmaskError
    from unmask.face.segment import find_occlusions

    if method == "nonsense":
        with pytest.raises(UnmaskError, match="unknown detection method"):
            find_occlusions(astronaut, method=method)
    else:
        mask, faces = find_occlusions(astronaut, method=method)
        assert mask.shape == astronaut.shape[:2] and faces


def test_covered_faces_under_the_detector_threshold_are_rescued_and_bare_ones_are_not(astronaut, monkeypatch):
    import unmask.face.segment as segment
    from unmask.face import detect_faces
    from unmask.occlusion import occlude

    face = detect_faces(astronaut)[0]
    masked, truth = occlude(astronaut, "surgical", np.random.default_rng(0), face=face)
    asked = []

    def low_scoring(image, min_score=0.6, **kwargs):  # as if the detector scored every face 0.5
        asked.append(min_score)
        return detect_faces(image, **kwargs) if min_score <= 0.5 else []

    monkeypatch.setattr(segment, "detect_faces", low_scoring)
    found, faces = segment.find_occlusions(masked)
    assert asked == [0.6, segment.RESCUE_SCORE] and len(faces) == 1
    assert (found.astype(bool) & (truth > 0)).sum() / (truth > 0).sum() > 0.7
    found, faces = segment.find_occlusions(astronaut)
    assert faces == [] and not found.any()


def test_real_photo_damage_keeps_shape_and_damages_some_samples():
    from unmask.data.segmentation import real_photo_damage

    rng = np.random.default_rng(0)
    image = (np.indices((48, 48)).sum(0) % 2 * 255).astype(np.uint8)[..., None].repeat(3, 2)  # fine checkerboard
    outputs = [real_photo_damage(image, rng) for _ in range(20)]
    assert all(out.shape == image.shape and out.dtype == np.uint8 for out in outputs)
    changed = [np.abs(out.astype(int) - image).mean() for out in outputs]
    assert sum(c > 10 for c in changed) >= 5  # low resolution, blur or JPEG wipe out a 1-px pattern
