"""The Hydra-multirun + Lightning-DDP rule: refuse the combination that re-runs the sweep in every DDP process.

Lightning starts the extra processes of `strategy=ddp` (and of `strategy=auto` on several devices) by re-executing
the command line. Under `gan-train -m ...` that command line includes `-m` and the sweep, so each child process
launches the whole sweep again (it only rewrites hydra.run.dir, which a multirun ignores). Single runs are fine
(Lightning passes the child its run directory), and so are processes the cluster starts itself (SLURM tasks via
hydra/launcher=slurm_ddp, torchrun), which re-execute nothing. ddp_spawn would avoid the re-execution too, but is not
offered: with this project's checkpoint IO it fails when the workers hand their weights back (Lightning returns a
bare state dict through the checkpoint IO, which refuses anything that is not a full training checkpoint), and the
main process would not have the workers' optimiser state for last.ckpt.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

# Lightning strategies whose processes are started by re-running the script (start_method "popen").
_SPAWNED = ("spawn", "fork", "notebook")
_BASIC_LAUNCHER = "BasicLauncher"


class DDPMultirunError(ValueError):
    """A Hydra multirun would start DDP by re-executing its own command line."""


def num_devices(devices: Any, accelerator: str) -> int:
    """How many processes per node `trainer.devices` asks for (-1 / "auto": the visible GPUs; 1 on a CPU)."""
    if isinstance(devices, list | tuple) or (hasattr(devices, "__len__") and not isinstance(devices, str)):
        return len(devices)
    text = str(devices).strip()
    if "," in text:
        return len([part for part in text.split(",") if part.strip()])
    if text in ("-1", "auto"):
        if accelerator in ("gpu", "cuda", "auto"):
            import torch

            return max(1, torch.cuda.device_count())
        return 1
    return int(text)


def relaunches_script(trainer_cfg: DictConfig | dict) -> bool:
    """Whether Lightning would start this trainer's DDP processes by re-running the command line."""
    strategy = trainer_cfg.get("strategy", "auto")
    if isinstance(strategy, DictConfig | dict):  # an instantiated strategy, e.g. {_target_: ...DDPStrategy, ...}
        target = str(strategy.get("_target_", ""))
        if not target.endswith("DDPStrategy"):
            return False
        return str(strategy.get("start_method", "popen")) == "popen"
    name = str(strategy)
    if name != "auto" and not name.startswith("ddp"):
        return False
    if any(kind in name for kind in _SPAWNED):
        return False
    world = num_devices(trainer_cfg.get("devices", 1), str(trainer_cfg.get("accelerator", "auto")))
    return world * int(trainer_cfg.get("num_nodes", 1) or 1) > 1


def _processes_started_externally() -> bool:
    # SLURM tasks (srun / submitit) and torchrun: Lightning attaches to them instead of relaunching
    from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    return SLURMEnvironment.detect() or TorchElasticEnvironment.detect()


def check_ddp_multirun(cfg: DictConfig, hydra_cfg: Any) -> None:
    """Raise DDPMultirunError for a multirun job under Hydra's basic launcher whose trainer would relaunch the script.

    `hydra_cfg` is `HydraConfig.get()`.
    """
    from hydra.types import RunMode

    if hydra_cfg.mode != RunMode.MULTIRUN:
        return
    launcher = str(hydra_cfg.launcher.get("_target_", ""))
    if not launcher.endswith(_BASIC_LAUNCHER) or not relaunches_script(cfg.trainer) or _processes_started_externally():
        return
    trainer = cfg.trainer
    raise DDPMultirunError(
        f"gan-train -m (a Hydra multirun) with trainer.strategy={trainer.get('strategy')} on "
        f"trainer.devices={trainer.get('devices')} (num_nodes={trainer.get('num_nodes', 1)}) is refused: Lightning "
        "starts the extra DDP processes by re-running this command line, -m included, so every process would launch "
        "the whole sweep again. Instead use one of:\n"
        "  - hydra/launcher=slurm_ddp on a SLURM cluster (SLURM starts one task per GPU; set tasks_per_node and "
        "gpus_per_node to trainer.devices);\n"
        "  - one device per run: trainer.devices=1 (on a multi-GPU machine run one sweep per GPU, e.g. "
        "CUDA_VISIBLE_DEVICES=0 gan-train -m ... seed=0,1 & CUDA_VISIBLE_DEVICES=1 gan-train -m ... seed=2,3);\n"
        "  - a shell loop of single runs (gan-train without -m runs DDP correctly)."
    )
