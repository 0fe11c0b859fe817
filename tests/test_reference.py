import numpy as np
import pytest
import torch
import torch.nn as nn
import yaml

from unmask.cli import main
from unmask.data.manifest import face_from_landmarks, write_manifest
from unmask.data.pairs import PairDataModule, ReferencePairs, load_filler, target_landmarks
from unmask.errors import UnmaskError
from unmask.eval.metrics import psnr
from unmask.face import align_face, detect_faces, transform_face
from unmask.face import reference as reference_module
from unmask.face.reference import (
    REFERENCE_POINTS,
    ReferenceUnusable,
    align_reference,
    check_cover,
    check_pose,
    crop_landmarks,
    match_colour,
    reference_points,
    tps_warp,
    warp_reference,
    yaw_proxy,
)
from unmask.io import image_to_tensor, load_image, save_image
from unmask.losses import masked_l1
from unmask.models import create_model
from unmask.models.pretrained import card
from unmask.occlusion import occlude
from unmask.pipeline import SAME_PERSON, ReferenceWarning, Unmasker
from unmask.run_folder import load_run
from unmask.train.reference_module import ReferenceGAN
from unmask.train.run import build_run, load_config, train

SIZE = 64


@pytest.fixture
def one_thread():
    """Run torch on one thread: tiny convs are several times faster than with two contending threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def face(astronaut):
    return detect_faces(astronaut)[0]


@pytest.fixture(scope="module")
def crop(astronaut, face):
    """The astronaut's aligned 128² crop and its landmarks in crop pixels."""
    aligned = align_face(astronaut, face, size=128)
    return aligned.image, transform_face(face, aligned.matrix).landmarks


def _moved(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks moved as by another pose and expression: a smooth bend plus a wider mouth, then rounded."""
    x, y = landmarks[:, 0], landmarks[:, 1]
    moved = np.stack([x + 3 * np.sin(y / 20) + 0.08 * (x - 64), y + 2 * np.cos(x / 25)], axis=1)
    return np.round(moved)


def test_thirty_points_around_nose_mouth_and_jaw(crop):
    assert len(REFERENCE_POINTS) == 30 and len(set(REFERENCE_POINTS)) == 30
    assert reference_points(crop[1]).shape == (30, 2)


def test_tps_warp_maps_source_landmarks_onto_target_landmarks(crop):
    source = reference_points(crop[1])
    target = reference_points(_moved(crop[1]))  # integer pixels, so the warped image can be read there exactly
    ys, xs = np.mgrid[0:128, 0:128].astype(np.float32)
    coordinates = np.stack([xs, ys], axis=2)  # every pixel holds its own position
    warped, positions = tps_warp(coordinates, source, target)
    tx, ty = target[:, 0].astype(int), target[:, 1].astype(int)
    assert np.abs(positions[ty, tx] - source).max() < 0.5
    assert np.abs(warped[ty, tx] - source).max() < 0.5  # the pixel that lands on a target landmark came from its source


def test_identity_warp_reproduces_the_face(crop):
    image, landmarks = crop
    hole = np.zeros((128, 128), np.uint8)
    hole[70:100, 45:85] = 1
    warped = warp_reference(image, landmarks, image * (1 - hole[..., None]), landmarks, hole)
    valid = warped.validity > 0.99
    assert valid[hole > 0].mean() > 0.9 and not valid[:10].any()  # the face, not the background above it
    assert np.abs(warped.image[valid].astype(int) - image[valid]).mean() < 2
    check_cover(warped, hole)
    with pytest.raises(ReferenceUnusable, match="shows only"):
        check_cover(warped, np.pad(np.ones((10, 10)), ((0, 118), (0, 118))))  # a hole in the corner


def test_colour_matching_moves_the_reference_to_the_visible_skin(crop):
    image, _ = crop
    tinted = np.clip(image * np.array([0.7, 0.8, 1.0]) + np.array([0, 10, 40]), 0, 255).astype(np.uint8)
    validity = np.ones((128, 128), np.float32)
    hole = np.zeros((128, 128), np.uint8)
    hole[70:100] = 1
    matched = match_colour(tinted, validity, image, hole)
    for region, shrink in ((hole == 0, 15), (hole > 0, 5)):  # fitted on the visible part (in Lab), applied to all
        before = np.abs(tinted[region].mean(0) - image[region].mean(0)).max()
        after = np.abs(matched[region].mean(0) - image[region].mean(0)).max()
        assert before > 25 and after < before / shrink


def test_reference_without_a_face_is_unusable():
    with pytest.raises(ReferenceUnusable, match="no face"):
        align_reference(np.full((96, 96, 3), 128, np.uint8), 64)


def test_generator_contract(one_thread):
    model = create_model("reference_guided", cnum=8, in_size=SIZE).eval()
    assert model.needs_reference
    image, reference = torch.rand(2, 3, SIZE, SIZE), torch.rand(2, 3, SIZE, SIZE)
    mask = torch.zeros(2, 1, SIZE, SIZE)
    mask[:, :, 20:44, 16:48] = 1
    validity = torch.zeros(2, 1, SIZE, SIZE)
    validity[:, :, :, :32] = 1
    output = model(image, mask, reference, validity)
    assert output.shape == image.shape and torch.equal(output * (1 - mask), image * (1 - mask))
    other = reference.clone()
    other[:, :, :, 32:] = torch.rand_like(other[:, :, :, 32:])
    assert torch.equal(model(image, mask, other, validity), output)  # invalid reference pixels are never read
    traced = torch.jit.trace(model, (image, mask, reference, validity))
    assert torch.allclose(traced(image, mask, reference, validity), output, atol=1e-6)
    with pytest.raises(UnmaskError, match="divisible by 4"):
        model(image[..., :62], mask[..., :62], reference[..., :62], validity[..., :62])


def test_a_prior_is_the_frozen_coarse_stage_and_the_untrained_output(one_thread):
    prior = {"name": "pconv", "kwargs": {"width": 0.125, "in_size": SIZE}}
    model = create_model("reference_guided", cnum=8, in_size=SIZE, prior=prior).train()
    assert not model.prior.training and not any(p.requires_grad for p in model.prior.parameters())
    image, reference = torch.rand(2, 3, SIZE, SIZE), torch.rand(2, 3, SIZE, SIZE)
    mask = torch.zeros(2, 1, SIZE, SIZE)
    mask[:, :, 20:44, 16:48] = 1
    no_reference = torch.zeros(2, 1, SIZE, SIZE)
    with torch.no_grad():
        fill = model.prior(image, mask)
        assert torch.allclose(model.eval()(image, mask, reference, no_reference), fill, atol=1e-6)
        gate_open = model(image, mask, reference, torch.ones_like(mask))
    expected = mask * (0.1 * reference + 0.9 * fill) + (1 - mask) * image
    assert torch.allclose(gate_open, expected, atol=2e-3)  # the reference gate starts at about 0.1
    model.train()
    _, refined = model.forward_train(image, mask, reference, torch.ones_like(mask))
    masked_l1(refined, image, mask, 6.0, 1.0).backward()
    assert model.refine[-1].weight.grad.abs().sum() > 0 and model.prior.encoder[0].conv.weight.grad is None


@pytest.fixture(scope="module")
def pairs_folder(tmp_path_factory, astronaut, face):
    """A prepared folder: two people with two photos each in train, one such person in val and in test."""
    root = tmp_path_factory.mktemp("pairs")
    aligned = align_face(astronaut, face, size=SIZE)
    landmarks = transform_face(face, aligned.matrix).landmarks
    rows = []
    people = [("p0", "train"), ("p1", "train"), ("p2", "val"), ("p3", "test")]
    for number, (person, split) in enumerate(people):
        for photo in range(2):
            name = f"{person}_{photo}.png"
            save_image(root / "crops" / name, np.clip(aligned.image.astype(int) + 10 * number - 6 * photo, 0, 255)
                       .astype(np.uint8))
            rows.append({"path": f"crops/{name}", "split": split, "source_set": "faces", "source_file": name,
                         "identity": person, "group": person, "face_index": 0, "score": 1.0, "coverage": 1.0})
    write_manifest(root, rows, np.stack([landmarks] * len(rows)))
    return root


def test_pairs_are_two_photos_of_one_person(pairs_folder):
    data = PairDataModule(str(pairs_folder), size=SIZE, batch_size=2, num_workers=0)
    data.setup()
    assert [len(data.splits[split]) for split in ("train", "val", "test")] == [4, 2, 2]
    image, mask, reference, validity = next(iter(data.train_dataloader()))
    assert image.shape == reference.shape == (2, 3, SIZE, SIZE) and mask.shape == validity.shape
    assert mask.sum() > 0 and (validity * mask).sum() > 0.3 * mask.sum()
    assert not torch.equal(image, reference)
    first, again = data.splits["val"][0], data.splits["val"][0]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))  # fixed pairs for validation


def test_training_pairs_warp_with_the_landmarks_found_on_the_masked_face(crop):
    image, stored = crop
    masked, _ = occlude(image, "surgical", np.random.default_rng(1), face=face_from_landmarks(stored))
    seen, found = target_landmarks(masked, stored, "detect")
    assert found and not np.allclose(seen, stored)
    assert np.abs(seen - stored).mean() < 0.05 * image.shape[0]  # near the truth, but guessed under the mask
    kept, found = target_landmarks(masked, stored, "stored")
    assert kept is stored and not found
    with pytest.raises(UnmaskError, match="landmarks must be one of"):
        ReferencePairs(None, SIZE, landmarks="true")


def test_landmarks_found_on_a_good_fill_are_closer_to_the_truth_than_on_the_masked_face(crop):
    image, stored = crop
    masked, _ = occlude(image, "surgical", np.random.default_rng(1), face=face_from_landmarks(stored))
    guessed, _ = target_landmarks(masked, stored, "detect")
    on_fill, found = target_landmarks(masked, stored, "fill", fill=image)  # the best possible fill: the truth
    lower = list(range(3, 14)) + list(range(31, 36)) + list(range(48, 68))
    assert found
    assert np.abs(on_fill - stored)[lower].mean() < np.abs(guessed - stored)[lower].mean()
    with pytest.raises(UnmaskError, match="needs the fill"):
        target_landmarks(masked, stored, "fill")
    assert crop_landmarks(np.full((64, 64, 3), 128, np.uint8)) is None


def test_training_pairs_can_take_their_landmarks_from_a_fill(pairs_folder):
    data = PairDataModule(str(pairs_folder), size=SIZE, batch_size=2, num_workers=0, landmarks="fill",
                          fill_model={"name": "telea"})
    data.setup()
    image, mask, reference, validity = next(iter(data.train_dataloader()))
    assert reference.shape == image.shape and (validity * mask).sum() > 0.3 * mask.sum()
    with pytest.raises(UnmaskError, match="needs a fill model"):
        ReferencePairs(None, SIZE, landmarks="fill")


def test_a_prior_config_fills_its_training_pairs_with_its_prior(tmp_path):
    config = load_config("configs/train/reference_cpu_prior.yaml", {"data.num_workers": 0})
    data, module, _ = build_run(config, tmp_path)
    prior = config["model"]["generator"]["kwargs"]["prior"]
    assert config["data"]["landmarks"] == "fill"
    assert data.hparams.fill_model == {**prior, "weights": config["model"]["prior_from"]}
    gpu = load_config("configs/train/reference_gpu.yaml")
    shipped = load_filler(gpu["data"]["fill_model"])  # the shipped model by name, whatever its width
    assert not shipped.training and not any(p.requires_grad for p in shipped.parameters())
    assert shipped.input_size == 128


def test_reference_recipe_trains_and_ships_like_every_run(pairs_folder, tmp_path, one_thread):
    config = load_config("configs/train/reference_cpu.yaml", {
        "run_dir": str(tmp_path / "run"), "data.data_dir": str(pairs_folder), "data.size": SIZE,
        "data.batch_size": 2, "data.num_workers": 0, "model.generator.kwargs.cnum": 4,
        "model.generator.kwargs.in_size": SIZE, "model.discriminator.cnum": 8,
        "trainer.max_steps": 2, "trainer.val_check_interval": 2, "trainer.limit_val_batches": 1,
        "trainer.enable_progress_bar": False, "checkpoint_every": 2, "sample_every": 2,
    })
    config["model"]["vgg_path"] = None  # load_config skips None overrides; the test must not need VGG weights
    run = train(config)
    config_back, step, ema = load_run(run)
    assert step == 2 and yaml.safe_load((run / "config.yaml").read_text())["model"]["recipe"] == "reference"
    model = create_model(config_back["model"]["generator"]["name"], **config_back["model"]["generator"]["kwargs"])
    model.load_state_dict(ema)
    assert list((run / "samples").glob("step_*.png"))


def test_without_an_adversarial_weight_the_discriminator_is_not_run(one_thread):
    module = ReferenceGAN(generator={"name": "reference_guided", "kwargs": {"cnum": 4, "in_size": SIZE}},
                          losses={"adv": 0.0})
    module.discriminator.forward = None  # calling it would raise
    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[..., 20:40, 20:40] = 1
    batch = (torch.rand(1, 3, SIZE, SIZE), mask, torch.rand(1, 3, SIZE, SIZE), torch.ones_like(mask))
    total, terms, _ = module.generator_loss(*batch)
    assert set(terms) == {"l1_coarse", "l1_refined"} and total > 0


def test_pipeline_refuses_a_reference_model_without_trained_weights(astronaut):
    with pytest.raises(UnmaskError, match="not shipped"):
        Unmasker("telea", reference_model="reference_untrained")(astronaut, reference=astronaut)


def test_shipped_reference_weights_are_recorded_with_their_frozen_prior():
    record = card("reference_guided")
    assert record["needs_reference"] and len(record["trained"]["prior"]["sha256"]) == 64  # the frozen PConv inside


class Recorder(nn.Module):
    """Wraps a reference-guided generator and keeps the last inputs the pipeline gave it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.in_size, self.inputs = model, model.in_size, None

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        self.inputs = inputs
        return self.model(*inputs)


@pytest.fixture(scope="module")
def masked(astronaut, face):
    return occlude(astronaut, "surgical", np.random.default_rng(0), face=face)


def _hole_psnr(picture: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float:
    return psnr(image_to_tensor(picture), image_to_tensor(truth), torch.from_numpy(hole)[None, None].float()).item()


def test_the_same_photo_as_reference_brings_the_hole_back_far_closer_than_without(masked, astronaut):
    occluded, truth = masked
    unmasker = Unmasker()  # the shipped default model fills without the reference
    guided = unmasker(occluded, mask=truth * 255, reference=astronaut)
    plain = unmasker(occluded, mask=truth * 255)
    hole = truth > 0
    assert not guided.notes and np.array_equal(guided.image[~hole], occluded[~hole])
    assert _hole_psnr(guided.image, astronaut, truth) > _hole_psnr(plain.image, astronaut, truth) + 6


def test_reference_without_a_face_falls_back_to_the_plain_model(masked, one_thread):
    occluded, truth = masked
    unmasker = Unmasker("telea", reference_model=Recorder(create_model("reference_guided", cnum=4, in_size=SIZE)))
    with pytest.warns(ReferenceWarning, match="no face found in the reference"):
        result = unmasker(occluded, mask=truth * 255, reference=np.full((80, 80, 3), 90, np.uint8))
    assert "filled without the reference" in result.notes[0]
    assert np.array_equal(result.image, Unmasker("telea")(occluded, mask=truth * 255).image)


def test_a_reference_turned_the_other_way_falls_back(masked, astronaut, monkeypatch):
    occluded, truth = masked
    turned = iter([0.8, 0.0])  # the reference in profile, the masked face frontal
    monkeypatch.setattr(reference_module, "yaw_proxy", lambda landmarks: next(turned))
    with pytest.warns(ReferenceWarning, match="turned too differently"):
        result = Unmasker("telea")(occluded, mask=truth * 255, reference=astronaut)
    assert "a profile against a frontal face" in result.notes[0]


def test_yaw_proxy_tells_a_profile_from_a_frontal_face(crop):
    _, landmarks = crop
    profile = landmarks.copy()
    profile[27:31, 0] = profile[36, 0] + 0.1 * (profile[45, 0] - profile[36, 0])  # the nose next to one eye
    assert abs(yaw_proxy(landmarks)) < 0.15 and yaw_proxy(profile) < -0.7
    check_pose(landmarks, landmarks)
    with pytest.raises(ReferenceUnusable, match="turned too differently"):
        check_pose(profile, landmarks)


def test_a_reference_with_its_lower_face_covered_falls_back(masked, astronaut, monkeypatch):
    occluded, truth = masked

    def lower_half_covered(photo, faces):  # the occlusion finder sees a mask over the reference's lower face
        covered = np.zeros(photo.shape[:2], np.uint8)
        covered[int(faces[0].landmarks[29, 1]):] = 1
        return covered, faces

    monkeypatch.setattr(reference_module, "find_occlusions", lower_half_covered)
    with pytest.warns(ReferenceWarning, match="lower face is covered"):
        result = Unmasker("telea")(occluded, mask=truth * 255, reference=astronaut)
    assert "filled without the reference" in result.notes[0]


class FakeFaceNet:
    """Stands in for FaceNetIdentity: the same similarity for every pair."""

    def __init__(self, similarity: float) -> None:
        self.value = similarity

    def similarity(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return torch.full((first.shape[0],), self.value)


def test_a_reference_of_another_person_falls_back(masked, astronaut):
    occluded, truth = masked
    with pytest.warns(ReferenceWarning, match="another person"):
        result = Unmasker("telea", identity=FakeFaceNet(SAME_PERSON - 0.2))(occluded, mask=truth * 255,
                                                                            reference=astronaut)
    assert f"< {SAME_PERSON}" in result.notes[0]
    assert not Unmasker("telea", identity=FakeFaceNet(0.9))(occluded, mask=truth * 255, reference=astronaut).notes


def test_a_harmoniser_gets_the_composite_as_its_reference(masked, astronaut, one_thread):
    occluded, truth = masked
    recorder = Recorder(create_model("reference_guided", cnum=4, in_size=SIZE))
    result = Unmasker("telea", reference_model=recorder)(occluded, mask=truth * 255, reference=astronaut)
    image, hole, reference, share = recorder.inputs
    assert not result.notes and image.shape == reference.shape == (1, 3, SIZE, SIZE)
    assert hole.shape == share.shape == (1, 1, SIZE, SIZE) and (share * hole).sum() > 0.5 * hole.sum()
    inside = hole.bool().expand_as(reference)
    assert (reference - image)[inside].abs().mean() > 0.05  # the hole of the composite is filled, not masked


def test_unmask_remove_with_the_same_photo_as_reference_brings_the_face_back(masked, astronaut, tmp_path):
    occluded, truth = masked
    save_image(tmp_path / "in" / "a.png", occluded)
    save_image(tmp_path / "in" / "a.mask.png", truth * 255)
    save_image(tmp_path / "reference.png", astronaut)
    command = ["remove", str(tmp_path / "in" / "a.png"), "--mask", str(tmp_path / "in")]
    assert main([*command, "-o", str(tmp_path / "plain")]) == 0
    assert main([*command, "-o", str(tmp_path / "guided"), "--reference", str(tmp_path / "reference.png")]) == 0
    plain, guided = (load_image(tmp_path / folder / "a.png") for folder in ("plain", "guided"))
    assert _hole_psnr(guided, astronaut, truth) > _hole_psnr(plain, astronaut, truth) + 6
