"""Every option of every config group composes, every `_target_` in it exists, and what can run here is built.

A renamed class or a mistyped key used to fail only when someone ran that option. Here each option is composed as
`gan-train` would compose it, every `_target_` in the result is imported, and the CPU-buildable parts (the GAN module,
the dataset, the Lightning Trainer) are instantiated for real. New options are picked up from conf/ automatically.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra._internal.utils import _locate
from omegaconf import DictConfig, ListConfig, OmegaConf
from PIL import Image

from gan.config import compose_config, instantiate_node
from gan.data.base import GANDataset
from gan.data.errors import DataError
from gan.paths import CONFIG_DIR
from gan.train.builders import build_dataset_factory, build_module

TRAIN_GROUPS = ("data", "model", "loss", "optim", "metrics", "trainer", "logger", "augment", "experiment")
HYDRA_GROUPS = ("hydra/launcher", "hydra/sweeper")
# Options that need hardware this machine lacks: composed and import-checked, not instantiated.
NEEDS_GPU = {("trainer", "gpu"), ("trainer", "ddp_gpu")}
# Downloadable datasets: offline they must fail with the project's DataError naming what to do, not build.
DOWNLOADED = {"mnist", "cifar10", "celeba"}
FOLDER_IMAGES, FOLDER_SIDE = 4, 8


def options(group: str) -> list[str]:
    return sorted(path.stem for path in (CONFIG_DIR / group).glob("*.yaml"))


def all_train_options() -> list[tuple[str, str]]:
    return [(group, option) for group in TRAIN_GROUPS for option in options(group)]


def targets(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(key path, _target_) of every node that names one."""
    if isinstance(node, DictConfig):
        for key in node:
            value = node._get_node(key)
            if key == "_target_":
                yield where or "<root>", str(node[key])
            elif isinstance(value, DictConfig | ListConfig):
                yield from targets(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, ListConfig):
        for i, value in enumerate(node):
            yield from targets(value, f"{where}[{i}]")


def companions(group: str, option: str, folder: Path) -> list[str]:
    """Other overrides an option needs to make sense: 2D toy data goes with the MLP, a folder needs a path."""
    cfg = compose_config("train", [f"{group}={option}"])
    toy = cfg.data.kind == "points" or cfg.model.name == "mlp" or cfg.metrics.get("kind") == "toy"
    extra = [o for o in ("data=grid25", "model=mlp") if toy and o.split("=")[0] != group and group != "experiment"]
    if cfg.data.name == "folder":
        extra.append(f"data.dataset.path={folder}")
    return extra


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    for i in range(FOLDER_IMAGES):
        Image.new("RGB", (FOLDER_SIDE, FOLDER_SIDE), color=(i * 60, 0, 0)).save(folder / f"{i}.png")
    return folder


def compose_option(group: str, option: str, folder: Path) -> DictConfig:
    return compose_config("train", [f"{group}={option}", *companions(group, option, folder)])


def test_every_group_has_options():
    for group in (*TRAIN_GROUPS, *HYDRA_GROUPS):
        assert options(group), f"conf/{group}/ has no options"


@pytest.mark.parametrize(("group", "option"), all_train_options(), ids=lambda v: str(v))
def test_option_composes_and_instantiates(group: str, option: str, image_folder: Path, tmp_path: Path):
    cfg = compose_option(group, option, image_folder)
    OmegaConf.resolve(cfg)  # every interpolation points somewhere
    found = list(targets(cfg))
    assert found, "a train config always names targets (module, networks, trainer)"
    for where, target in found:
        assert _locate(target) is not None, f"{group}={option}: {where}._target_={target} does not import"

    module = build_module(cfg)
    assert module.generator.latent_dim == cfg.model.latent_dim
    make_dataset = build_dataset_factory(cfg)
    if cfg.data.name in DOWNLOADED:
        with pytest.raises(DataError, match="download"):
            make_dataset("train")
    else:
        dataset = make_dataset("train")
        assert isinstance(dataset, GANDataset) and len(dataset) > 0
        x, _ = dataset[0]
        if dataset.kind == "image":
            assert tuple(x.shape) == (cfg.data.channels, cfg.data.resolution, cfg.data.resolution)
    if (group, option) not in NEEDS_GPU and cfg.trainer.accelerator == "cpu":
        trainer = instantiate_node(cfg.trainer, logger=False, enable_checkpointing=False,
                                   default_root_dir=str(tmp_path))
        assert trainer.max_steps == cfg.trainer.max_steps


@pytest.mark.parametrize("group", HYDRA_GROUPS)
def test_hydra_plugin_options_compose(group: str):
    for option in options(group):
        hydra_cfg = compose_config("train", [f"{group}={option}"], return_hydra_config=True).hydra
        node = hydra_cfg[group.split("/")[1]]
        assert node._target_, f"{group}={option} has no _target_"
        assert _locate(node._target_) is not None, f"{group}={option}: {node._target_} does not import"


def test_a_renamed_target_is_caught():
    """The check above can fail: a config pointing at a class that does not exist is reported."""
    cfg = compose_config("train", ["model.generator._target_=gan.nets.dcgan.NoSuchGenerator"])
    bad = [target for _, target in targets(cfg) if target.endswith("NoSuchGenerator")]
    assert bad
    with pytest.raises(ImportError):
        _locate(bad[0])


@pytest.mark.parametrize("experiment", options("experiment"))
def test_choosing_an_optimiser_on_the_command_line_overrides_every_preset(experiment: str):
    """`experiment=X optim=adam_ttur` must train with TTUR's learning rates and betas. A preset that wrote its own lr
    into `optim:` silently won over the group chosen on the command line (digits_dcgan with optim=adam_ttur ran at
    equal rates of 2e-3); presets choose an optim group instead (conf/optim/adam_sg2, adam_toy, adam_sngan)."""
    ttur = compose_config("train", ["optim=adam_ttur"]).optim
    cfg = compose_config("train", [f"experiment={experiment}", "optim=adam_ttur"]).optim
    for net in ("generator", "discriminator"):
        assert (cfg[net].lr, list(cfg[net].betas)) == (ttur[net].lr, list(ttur[net].betas)), (experiment, net)
    assert cfg.n_critic == ttur.n_critic


@pytest.mark.parametrize(("experiment", "lr", "betas"), [
    *[(toy, 5e-4, (0.5, 0.999)) for toy in ("grid25_mlp", "ring8_mlp", "ring8_pacgan2")],
    ("grid25_pacgan4", 3e-3, (0.5, 0.999)),
    *[(digits, 2e-3, (0.0, 0.99)) for digits in ("digits_dcgan", "digits_dcgan_cond")],
])
def test_presets_train_with_fused_adam(experiment: str, lr: float, betas: tuple[float, float]):
    """`fused: true` in optim=adam_toy and optim=adam_sg2 reaches both optimisers the module builds (the Adam update
    ~4x cheaper on the CPU for the toy networks, ~3 % of a digits step: toy_pacgan and digits_floor RESULTS.md), with
    the group's own learning rate and betas."""
    for opt in build_module(compose_config("train", [f"experiment={experiment}"])).configure_optimizers():
        group = opt.param_groups[0]
        assert group["fused"] is True and group["lr"] == lr and group["betas"] == betas, experiment


@pytest.mark.parametrize(("source", "finetune"), [("digits_dcgan", "finetune_textures")])
def test_finetune_preset_builds_the_source_presets_networks(source: str, finetune: str):
    """`make train`, then `gan-train experiment=finetune_textures init_from=<that run>` (README): init_from loads the
    source's weights, so the fine-tune preset must build networks of the same shapes. It used to keep widths 32/32
    after digits_dcgan narrowed to 16/24, and the documented workflow stopped at a shape mismatch."""
    def shapes(experiment: str) -> dict[str, tuple[int, ...]]:
        module = build_module(compose_config("train", [f"experiment={experiment}"]))
        nets = ("generator.", "discriminator.")
        return {k: tuple(v.shape) for k, v in module.state_dict().items() if k.startswith(nets)}

    assert shapes(finetune) == shapes(source)


@pytest.mark.parametrize("experiment", ["digits_dcgan", "digits_dcgan_cond"])
def test_digits_presets_train_in_channels_last(experiment: str):
    """`make train`'s D has its convolution weights in channels_last memory (oneDNN's faster CPU kernels;
    experiments/digits_floor/RESULTS.md, stop 22)."""
    module = build_module(compose_config("train", [f"experiment={experiment}"]))
    convs = [m.weight for m in module.discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    # with one input channel the two layouts coincide; every wider weight must be in channels_last, not NCHW
    wide = [w for w in convs if w.shape[1] > 1]
    assert wide and not any(w.is_contiguous() for w in wide)
