"""Each seed model's YAML trains through ``unmask.train.run.train``, checkpoints, resumes and reloads."""

from pathlib import Path

import pytest
import torch

from unmask.errors import UnmaskError
from unmask.models import create_model
from unmask.nets import build_vgg16_features
from unmask.run_folder import load_run
from unmask.train.recipes import DeepFillRecipe, DMFNRecipe, HOGRecipe, PConvRecipe
from unmask.train.run import DATA_MODULES, RECIPES, build_module, build_run, load_config, train

SIZE = 32  # the smallest size every model takes (HOG: two 8-px cells; VGG terms stay cheap)
TINY = {
    "pconv": {"model.generator.kwargs.width": 1 / 16},
    "dmfn": {"model.generator.kwargs.nf": 4, "model.generator.kwargs.blocks": 1, "model.discriminator.cnum": 4},
    "hog": {"model.generator.kwargs.nf": 4, "model.generator.kwargs.blocks": 1, "model.discriminator.cnum": 4},
}


@pytest.fixture(scope="module")
def random_vgg(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Random-init VGG16 weights in the shipped layout, so the VGG terms run without the real file."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg16_random.pth"
    torch.save(build_vgg16_features().state_dict(), path)
    return str(path)


@pytest.mark.parametrize("recipe", sorted(TINY))
def test_recipe_trains_checkpoints_resumes_and_reloads(recipe, tiny_prepared, random_vgg, tmp_path):
    config = load_config(f"configs/train/{recipe}_cpu.yaml", {
        **TINY[recipe], "run_dir": str(tmp_path / "run"), "data.data_dir": str(tiny_prepared), "data.size": SIZE,
        "data.batch_size": 2, "data.num_workers": 0, "model.generator.kwargs.in_size": SIZE,
        "model.vgg_path": random_vgg, "trainer.max_steps": 1, "trainer.val_check_interval": 1,
        "trainer.limit_val_batches": 1, "trainer.enable_progress_bar": False, "checkpoint_every": 1,
        "sample_every": 1,
    })
    run = train(config)
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    keys = checkpoint["state_dict"].keys()
    assert checkpoint["global_step"] == 1 and any(key.startswith("ema.") for key in keys)
    assert any(key.startswith("discriminator.") for key in keys) == (recipe != "pconv")
    assert not any(key.startswith("vgg.") for key in keys)  # the frozen VGG is read from vgg_path instead
    assert list((run / "samples").glob("step_*.png"))
    config["trainer"]["max_steps"] = 2
    train(config, resume="last")
    loaded_config, step, ema = load_run(run)
    assert step == 2
    generator = loaded_config["model"]["generator"]
    model = create_model(generator["name"], **generator["kwargs"])
    model.load_state_dict(ema)  # what scripts/ship_weights.py ships
    assert torch.isfinite(model.eval()(torch.rand(1, 3, SIZE, SIZE), torch.ones(1, 1, SIZE, SIZE))).all()


def test_recipe_dispatch_and_errors():
    deepfill = build_module({"generator": {"name": "deepfill", "kwargs": {"cnum": 4, "in_size": SIZE}},
                             "discriminator": {"cnum": 4}})
    assert type(deepfill) is DeepFillRecipe  # no recipe key: the DeepFill recipe, as before
    tiny = {"generator": {"name": "pconv", "kwargs": {"width": 1 / 16}}}
    assert isinstance(build_module({"recipe": "pconv", **tiny}), PConvRecipe)
    assert isinstance(build_module({"recipe": "dmfn", "generator": {"name": "dmfn", "kwargs": {"nf": 4}}}),
                      DMFNRecipe)
    assert isinstance(build_module({"recipe": "hog", "generator": {"name": "hog", "kwargs": {"nf": 4}}}), HOGRecipe)
    with pytest.raises(UnmaskError, match="unknown model.recipe"):
        build_module({"recipe": "lama", **tiny})
    with pytest.raises(UnmaskError, match="unknown loss weight"):
        build_module({"recipe": "pconv", **tiny, "losses": {"adv": 0.1}})
    with pytest.raises(UnmaskError, match="no discriminator"):
        build_module({"recipe": "pconv", **tiny, "discriminator": {"cnum": 8}})


def test_pconv_finetuning_phase_freezes_encoder_bn_and_lowers_lr():
    module = build_module({"recipe": "pconv", "generator": {"name": "pconv", "kwargs": {"width": 1 / 16}},
                           "optim": {"freeze_bn_step": 1, "lr_finetune": 1e-5}})
    assert module.learning_rates()[0] == 2e-4 and not module._finetuning()  # step 0
    image, mask = torch.rand(2, 3, SIZE, SIZE), torch.zeros(2, 1, SIZE, SIZE)
    module._finetuning = lambda: True  # as from step 1 on
    module.generator_loss(image, mask)
    assert module.generator.freeze_encoder_bn and not module.generator.encoder[1].norm.training


@pytest.mark.parametrize("name", ["pconv", "dmfn", "hog"])
def test_unshipped_models_are_refused_by_the_pipeline(name, tmp_path, monkeypatch):
    from unmask.models import pretrained
    from unmask.pipeline import Unmasker

    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path)  # an install without shipped weights
    with pytest.raises(UnmaskError, match="no trained weights shipped"):
        Unmasker(name)


def test_configs_point_to_the_offline_vgg():
    """GPU configs train with the VGG terms; CPU configs may drop them (null), never point elsewhere."""
    for path in Path("configs/train").glob("*.yaml"):
        config = load_config(path)
        if config["model"].get("recipe") not in TINY:
            continue
        vgg = config["model"]["vgg_path"]
        assert (vgg is None and "_cpu" in path.stem) or vgg.endswith(
            "vgg16_imagenet_keras/vgg16_features_fp16.pth"), path


@pytest.fixture(scope="module")
def random_lpips_vgg(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Random VGG16 trunk and LPIPS heads in the layout of lpips_vgg16_fp16.safetensors."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    state = {f"features.{key}": value for key, value in build_vgg16_features().state_dict().items()}
    state.update({f"lin{i}.model.1.weight": torch.rand(1, width, 1, 1)
                  for i, width in enumerate((64, 128, 256, 512, 512))})
    path = tmp_path_factory.mktemp("lpips") / "lpips_vgg16_random.safetensors"
    save_file(state, str(path))
    return str(path)


def test_texture_recipe_trains_from_shipped_pconv_resumes_and_keeps_lpips_out(tiny_prepared, random_lpips_vgg,
                                                                              tmp_path):
    from unmask.models.pretrained import WEIGHTS_DIR

    config = load_config("configs/train/pconv_texture_cpu.yaml", {
        "run_dir": str(tmp_path / "run"), "data.data_dir": str(tiny_prepared), "data.size": 64,
        "data.batch_size": 2, "data.num_workers": 0, "model.generator.kwargs.in_size": 64,
        "model.lpips_path": random_lpips_vgg, "model.crop": 32, "model.discriminator.cnum": 4,
        "model.init_from": str(WEIGHTS_DIR / "pconv.safetensors"), "trainer.max_steps": 1,
        "trainer.val_check_interval": 1, "trainer.limit_val_batches": 1, "trainer.enable_progress_bar": False,
        "checkpoint_every": 1, "sample_every": 1,
    })
    assert config["model"]["recipe"] == "texture" and config["model"]["generator"]["kwargs"]["upsample"] == "bilinear"
    run = train(config)
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    keys = checkpoint["state_dict"].keys()
    assert any(key.startswith("discriminator.") for key in keys)
    assert not any(key.startswith("lpips.") for key in keys)  # read from lpips_path instead
    config["trainer"]["max_steps"] = 2
    train(config, resume="last")
    _, step, ema = load_run(run)
    assert step == 2 and set(ema) == set(create_model("pconv", width=0.5).state_dict())
    trained = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    next_round = build_module({**config["model"], "discriminator_from": str(run / "checkpoints" / "last.ckpt")})
    assert all(torch.equal(value, trained[f"discriminator.{key}"])
               for key, value in next_round.discriminator.state_dict().items())
    fresh = build_module(config["model"])
    assert not all(torch.equal(value, trained[f"discriminator.{key}"])
                   for key, value in fresh.discriminator.state_dict().items())


def test_texture_discriminator_from_a_checkpoint_without_one_is_refused(tmp_path):
    path = tmp_path / "generator_only.ckpt"
    torch.save({"state_dict": {"generator.weight": torch.zeros(1)}}, path)
    with pytest.raises(UnmaskError, match="holds no discriminator"):
        build_module({"recipe": "texture", "generator": {"name": "pconv", "kwargs": {"width": 1 / 16}},
                      "discriminator": {"cnum": 4}, "discriminator_from": str(path)})


def test_texture_loss_judges_a_crop_around_the_hole_and_freezes_batch_norm(random_lpips_vgg):
    module = build_module({"recipe": "texture", "generator": {"name": "pconv", "kwargs": {"width": 1 / 16}},
                           "discriminator": {"cnum": 4}, "lpips_path": random_lpips_vgg, "crop": 32})
    module.generator.train()
    image, mask = torch.rand(2, 3, 64, 64), torch.zeros(2, 1, 64, 64)
    mask[:, :, 40:60, 10:50] = 1
    total, terms, fakes = module.generator_loss(image, mask)
    assert set(terms) == {"l1", "adv", "fm", "perceptual"} and torch.isfinite(total)
    assert fakes["fake"].shape == (2, 3, 32, 32) and fakes["mask"].mean() > 0.3  # the crop is mostly hole
    assert not any(m.training for m in module.generator.modules() if isinstance(m, torch.nn.BatchNorm2d))
    loss_d = module.discriminator_loss(image, mask, {key: value.detach() for key, value in fakes.items()})
    loss_d.backward()
    assert all(p.grad is not None for p in module.discriminator.parameters() if p.requires_grad)


def test_every_config_names_a_recipe_and_a_data_module(tmp_path):
    for path in Path("configs/train").glob("*.yaml"):
        config = load_config(path)
        module_class = RECIPES[config["model"].get("recipe", "deepfill")]
        assert config["data"].get("module", module_class.data_module) in DATA_MODULES, path
    config = load_config("configs/train/pconv_cpu.yaml", {"data.module": "pairs_of_nothing"})
    with pytest.raises(UnmaskError, match="unknown data.module"):
        build_run(config, tmp_path)


def test_a_checkpoint_that_holds_the_frozen_vgg_resumes(tiny_prepared, random_vgg, tmp_path):
    """DeepFill and reference checkpoints once held the frozen VGG's weights; they resume as they are."""
    config = load_config("configs/train/deepfill_cpu.yaml", {
        "run_dir": str(tmp_path / "run"), "data.data_dir": str(tiny_prepared), "data.size": SIZE,
        "data.batch_size": 2, "data.num_workers": 0, "model.generator.kwargs.in_size": SIZE,
        "model.generator.kwargs.cnum": 4, "model.discriminator.cnum": 4, "model.vgg_path": random_vgg,
        "trainer.max_steps": 1, "trainer.limit_val_batches": 0, "trainer.enable_progress_bar": False,
    })
    run = train(config)
    path = run / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(path, weights_only=False)
    vgg = build_module(config["model"]).vgg.state_dict()
    checkpoint["state_dict"].update({f"vgg.{key}": value for key, value in vgg.items()})
    torch.save(checkpoint, path)
    config["trainer"]["max_steps"] = 2
    train(config, resume="last")
    assert load_run(run)[1] == 2


def test_texture_discriminator_judges_augmented_crops_when_asked(monkeypatch):
    from unmask.train import recipes

    module = build_module({"recipe": "texture", "generator": {"name": "pconv", "kwargs": {"width": 1 / 16}},
                           "discriminator": {"cnum": 4}, "crop": 32, "diff_augment": True})
    calls = []
    monkeypatch.setattr(recipes, "diff_augment",
                        lambda image, mask, policy: calls.append(image.shape) or (image, mask))
    image, mask = torch.rand(2, 3, 64, 64), torch.zeros(2, 1, 64, 64)
    mask[:, :, 40:60, 10:50] = 1
    _, terms, fakes = module.generator_loss(image, mask)
    assert len(calls) == 1 and torch.isfinite(terms["adv"])  # the generator's adversarial term
    module.discriminator_loss(image, mask, {key: value.detach() for key, value in fakes.items()})
    assert calls == [(2, 3, 32, 32)] * 3  # and both of D's inputs

    with pytest.raises(UnmaskError, match="diff_augment"):
        build_module({"recipe": "texture", "generator": {"name": "pconv", "kwargs": {"width": 1 / 16}},
                      "diff_augment": ["colour", "rotation"]})


def test_projected_discriminator_judges_frozen_vgg_features_and_saves_only_its_heads(random_lpips_vgg):
    from unmask.train.projected import ProjectedDiscriminator

    discriminator = ProjectedDiscriminator(random_lpips_vgg, cnum=8)
    image, mask = torch.rand(2, 3, 64, 64, requires_grad=True), torch.zeros(2, 1, 64, 64)
    mask[:, :, 20:50, 10:54] = 1
    logits, features = discriminator(image, mask, return_features=True)
    assert logits.shape == (2, 3 * 4 * 4)  # three heads, each a (64 / 16)² map
    assert len(features) == (1 + 3) + (1 + 2) + (1 + 1)
    logits.mean().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0  # the generator's gradient passes the trunk
    assert all(not p.requires_grad and p.grad is None for p in discriminator.trunk.parameters())
    assert all(key.startswith("heads.") for key in discriminator.state_dict())
    assert {id(p) for p in discriminator.parameters()} == {id(p) for p in discriminator.heads.parameters()}
    assert not discriminator.train().trunk.training
    other = discriminator(torch.rand(2, 3, 64, 64), mask)
    assert not torch.allclose(other, logits.detach())
    assert discriminator.to(torch.float64).trunk[0].weight.dtype == torch.float64


def test_texture_recipe_trains_against_a_projected_discriminator(random_lpips_vgg, tmp_path):
    from unmask.train.projected import ProjectedDiscriminator

    module = build_module({"recipe": "texture", "generator": {"name": "pconv", "kwargs": {"width": 1 / 16}},
                           "discriminator": {"vgg_path": random_lpips_vgg, "cnum": 4}, "crop": 32})
    assert isinstance(module.discriminator, ProjectedDiscriminator)
    image, mask = torch.rand(2, 3, 64, 64), torch.zeros(2, 1, 64, 64)
    mask[:, :, 40:60, 10:50] = 1
    total, terms, fakes = module.generator_loss(image, mask)
    assert torch.isfinite(total) and terms["fm"] > 0
    module.discriminator_loss(image, mask, {key: value.detach() for key, value in fakes.items()}).backward()
    assert all(p.grad is not None for p in module.discriminator.parameters())
    assert not any(".trunk." in key for key in module.state_dict())


def test_projected_discriminator_needs_the_vgg_lpips_file(tmp_path):
    from safetensors.torch import save_file

    from unmask.nets.lpips import ALEX_TAPS, build_alexnet_features
    from unmask.train.projected import ProjectedDiscriminator

    trunk = build_alexnet_features()
    state = {f"features.{key}": value for key, value in trunk.state_dict().items()}
    state.update({f"lin{i}.model.1.weight": torch.rand(1, trunk[index - 1].out_channels, 1, 1)
                  for i, index in enumerate(ALEX_TAPS)})
    save_file(state, str(tmp_path / "alex.safetensors"))
    with pytest.raises(ValueError, match="VGG16 LPIPS file"):
        ProjectedDiscriminator(tmp_path / "alex.safetensors")
