import os

import lightning as L
import torch
import yaml

from unmask.data.datamodule import FaceDataModule, OccludedFaces
from unmask.data.manifest import read_manifest
from unmask.eval.runs import resolve_model_specs
from unmask.run_folder import load_run, resolve_resume
from unmask.train.run import build_module, build_run, load_config, train

SIZE = 64


def test_datamodule_yields_occluded_faces(tiny_prepared):
    data = FaceDataModule(str(tiny_prepared), size=SIZE, batch_size=2, num_workers=0)
    data.setup()
    image, mask, kind = next(iter(data.train_dataloader()))
    assert image.shape == (2, 3, SIZE, SIZE) and mask.shape == (2, 1, SIZE, SIZE)
    assert set(mask.unique().tolist()) <= {0.0, 1.0} and mask.sum() > 0
    first, again = data.splits["val"][0], data.splits["val"][0]
    assert torch.equal(first[1], again[1]) and first[2] == again[2]  # fixed occlusion for validation


def test_training_items_are_mirrored_half_the_time_with_their_holes(tiny_prepared):
    manifest = read_manifest(tiny_prepared).select(split="train")
    plain, flipped = OccludedFaces(manifest, SIZE, base_seed=5), OccludedFaces(manifest, SIZE, base_seed=5, flip=True)
    mirrored = 0
    for index in range(len(manifest)):
        image, mask, kind = plain[index]
        other_image, other_mask, other_kind = flipped[index]
        assert kind == other_kind
        if torch.equal(other_image, image):
            assert torch.equal(other_mask, mask)
        else:
            assert torch.equal(other_image, image.flip(-1)) and torch.equal(other_mask, mask.flip(-1))
            mirrored += 1
    assert 0 < mirrored < len(manifest)
    data = FaceDataModule(str(tiny_prepared), size=SIZE, batch_size=2, num_workers=0)
    data.setup()
    assert data.splits["train"].flip and not data.splits["val"].flip and not data.splits["test"].flip


def test_two_steps_checkpoint_and_resume(tiny_prepared, tmp_path):
    config = load_config("configs/train/deepfill_cpu.yaml", {
        "run_dir": str(tmp_path / "run"), "data.data_dir": str(tiny_prepared), "data.size": SIZE,
        "data.batch_size": 2, "data.num_workers": 0, "model.generator.kwargs.cnum": 4,
        "model.discriminator.cnum": 8, "trainer.max_steps": 2, "trainer.val_check_interval": 2,
        "trainer.limit_val_batches": 1, "trainer.enable_progress_bar": False, "checkpoint_every": 2,
        "sample_every": 2, "keep_every": 2, "trainer.precision": "bf16-mixed",
    })
    run = train(config)
    last = run / "checkpoints" / "last.ckpt"
    first_step = torch.load(last, weights_only=False)["global_step"]
    assert first_step > 0
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["size"] == SIZE
    assert list((run / "samples").glob("step_*.png"))
    config["trainer"]["max_steps"] = 2 * first_step
    train(config, resume="last")
    checkpoint = torch.load(last, weights_only=False)
    assert checkpoint["global_step"] == 2 * first_step
    assert "rng_states" in checkpoint
    kept = sorted(path.name for path in (run / "checkpoints").glob("step=*.ckpt"))
    assert kept == [f"step={first_step:06d}.ckpt", f"step={2 * first_step:06d}.ckpt"]
    assert load_run(run, checkpoint_path=run / "checkpoints" / kept[0])[1] == first_step
    assert load_run(run)[1] == 2 * first_step
    (label, model), = resolve_model_specs([str(run / "checkpoints" / kept[0])])  # `unmask evaluate --models` spec
    assert label == f"run@{first_step}" and not model.training


def test_a_new_run_can_start_from_generator_weights(tmp_path):
    import pytest
    from safetensors.torch import save_file

    from unmask.errors import UnmaskError
    from unmask.models import create_model
    for recipe, kwargs in (("deepfill", {"cnum": 4, "in_size": SIZE}), ("pconv", {"width": 0.125})):
        source = create_model(recipe, **kwargs)
        weights = tmp_path / f"{recipe}.safetensors"
        save_file({key: value.half() for key, value in source.state_dict().items()}, str(weights))
        module = build_module({"recipe": recipe, "generator": {"name": recipe, "kwargs": kwargs},
                               "init_from": str(weights)})
        for key, value in source.state_dict().items():
            expected = value.half().to(value.dtype)
            torch.testing.assert_close(module.generator.state_dict()[key], expected)
            torch.testing.assert_close(module.ema.state_dict()[key], expected)
    with pytest.raises(UnmaskError, match="no such weights file"):
        build_module({"generator": {"name": "deepfill", "kwargs": {"cnum": 4}}, "init_from": str(tmp_path / "x")})


def test_the_ema_generator_follows_batch_norm_statistics():
    module = build_module({"recipe": "pconv", "generator": {"name": "pconv", "kwargs": {"width": 0.125}}})
    module.generator.train()
    with torch.no_grad():
        module.generator(torch.rand(2, 3, SIZE, SIZE), torch.zeros(2, 1, SIZE, SIZE))
    module._update_ema()
    live, ema = dict(module.generator.named_buffers()), dict(module.ema.named_buffers())
    assert any("running_mean" in name for name in live)
    for name, value in live.items():
        torch.testing.assert_close(ema[name], value)


def test_resume_last_takes_the_newest_last_checkpoint(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    assert resolve_resume("last", tmp_path) is None
    (checkpoints / "last.ckpt").write_bytes(b"old")
    newer = checkpoints / "last-v1.ckpt"  # what Lightning writes in a run folder copied from another run
    newer.write_bytes(b"new")
    os.utime(checkpoints / "last.ckpt", (1, 1))
    assert resolve_resume("last", tmp_path) == str(newer)
    assert resolve_resume(None, tmp_path) is None


def test_the_learning_rate_drops_by_its_factor_from_the_given_step(monkeypatch):
    module = build_module({"generator": {"name": "deepfill", "kwargs": {"cnum": 4, "in_size": SIZE}},
                           "optim": {"lr_drop_at": 100, "lr_drop_factor": 0.25}})
    factors = {}
    for step in (0, 99, 100, 5000):
        monkeypatch.setattr(type(module), "global_step", property(lambda self, s=step: s))
        factors[step] = module._lr_factor()
    assert factors == {0: 1.0, 99: 1.0, 100: 0.25, 5000: 0.25}


def test_only_the_discriminator_learns_during_its_warm_up(monkeypatch):
    module = build_module({"recipe": "texture", "generator": {"name": "pconv", "kwargs": {"width": 0.125}},
                           "optim": {"lr_g": 1e-4, "lr_d": 2e-4, "d_warmup": 50}})
    rates = {}
    for step in (0, 49, 50):
        monkeypatch.setattr(type(module), "global_step", property(lambda self, s=step: s))
        rates[step] = module.learning_rates()
    assert rates == {0: (0.0, 2e-4), 49: (0.0, 2e-4), 50: (1e-4, 2e-4)}


def test_the_generator_and_its_adam_moments_stay_still_in_the_warm_up(tiny_prepared, tmp_path):
    config = load_config("configs/train/pconv_texture_cpu.yaml", {
        "run_dir": str(tmp_path / "run"), "data.data_dir": str(tiny_prepared), "data.size": SIZE,
        "data.batch_size": 2, "data.num_workers": 0, "model.generator.kwargs": {"width": 0.125, "in_size": SIZE},
        "model.discriminator": {"cnum": 8, "layers": 2}, "model.crop": 32, "model.optim.d_warmup": 3,
        "trainer.max_steps": 3, "trainer.val_check_interval": 3, "trainer.limit_val_batches": 1,
        "trainer.enable_progress_bar": False, "checkpoint_every": 3,
        "sample_every": 3, "keep_every": 3, "trainer.precision": "bf16-mixed",
    })
    del config["model"]["lpips_path"], config["model"]["init_from"]  # random weights; no LPIPS term
    L.seed_everything(int(config["seed"]), workers=True)  # as train() does before it builds the module
    start = build_run(config, tmp_path / "start")[1].generator.state_dict()
    run = train(config)
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["global_step"] == 3
    generator_state, discriminator_state = checkpoint["optimizer_states"]
    assert generator_state["state"] == {}  # no Adam moments for G
    assert discriminator_state["state"]  # D learned
    weights = checkpoint["state_dict"]
    assert all(torch.equal(weights[f"generator.{key}"], value) for key, value in start.items())
