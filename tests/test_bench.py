"""The benchmark measures what it claims: its plain loop is GAN.training_step's computation, and its report has every
figure issue 6 asks for. No timing assertions: speed depends on the machine and its load."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch

from gan.bench.config import load_config
from gan.bench.lightning_run import build_trainer
from gan.bench.orchestrate import header, record
from gan.bench.plain import PlainGANLoop
from gan.bench.report import format_report
from gan.bench.worker import RUNNERS, CycledBatches, in_memory_batches, train_worker
from gan.builders import build_module

REPO = Path(__file__).resolve().parents[1]
TINY = ("data.resolution=16", "data.batch_size=8", "model.generator.width=8", "model.discriminator.width=8",
        "model.latent_dim=8")


def start_plain_stream(module) -> None:
    """Point torch's global RNG, which the plain loop draws from, where the module's training draws start: the
    module's own stream (`training_rng`, kept apart from the global RNG for exact resumes) when it has one."""
    stream = getattr(module, "training_rng", None)
    if stream is None:
        torch.manual_seed(1)
    else:
        torch.set_rng_state(stream.cpu_state)


def train_both(cfg, batches: int):
    """The same initial module trained on the same batches from the same seed, by Lightning and by the plain loop."""
    L.seed_everything(0, verbose=False)
    lightning_module = build_module(cfg)
    plain_module = copy.deepcopy(lightning_module)
    data = CycledBatches(in_memory_batches(cfg, 2, torch.device("cpu")), batches)
    torch.manual_seed(1)
    build_trainer(cfg, callbacks=[]).fit(lightning_module, train_dataloaders=data)
    loop = PlainGANLoop(plain_module, cfg.trainer.precision)
    start_plain_stream(plain_module)
    for real, labels in data:
        loop.step(real, labels)
    return lightning_module, plain_module, loop


@pytest.mark.parametrize(("overrides", "batches"), [
    ((), 1),  # the benchmark's setting: ns loss, n_critic 1, EMA with ramp-up
    (("loss=wgan_gp", "optim=adam_wgan"), 6),  # gradient penalty, n_critic 5: D,D,D,D,D+G,D
    (("model.num_classes=10", "loss=hinge", "loss.r1_weight=1.0", "loss.r1_every=2"), 3),  # labels, lazy R1
    (("speed.channels_last=true", "trainer.precision=bf16-mixed"), 2),  # the switches the benchmark measures
])
def test_plain_loop_gives_the_same_weights_as_lightning(compose_config, overrides, batches):
    cfg = compose_config(*TINY, *overrides)
    lightning_module, plain_module, loop = train_both(cfg, batches)
    trained, reference = lightning_module.state_dict(), plain_module.state_dict()
    assert trained.keys() == reference.keys()
    moved = [k for k in trained if trained[k].is_floating_point() and not torch.equal(trained[k], build_module(cfg)
                                                                                       .state_dict()[k])]
    assert moved, "training changed nothing: the comparison would be vacuous"
    for name in trained:
        if name in ("d_steps", "g_steps"):
            continue
        assert torch.equal(trained[name], reference[name]), name
    assert (int(lightning_module.d_steps), int(lightning_module.g_steps)) == (loop.d_steps, loop.g_steps)


class ScriptedChannel:
    """The parent's side of the pipe, played from a script: the worker runs in this process."""

    def __init__(self, commands: list[str]):
        self.commands, self.sent = list(commands), []

    def send(self, obj: Any) -> None:
        self.sent.append(obj)

    def recv(self) -> Any:
        return self.commands.pop(0)


def tiny_bench_config(*extra: str):
    return load_config([f"train.overrides=[{','.join(TINY)}]", "train.warmup_batches=1", "train.window_batches=2",
                        "train.repeats=2", "train.batches_in_memory=2", "inductor_cache=true", *extra])


def run_in_process(cfg, runner: str, variant: list[str]) -> dict[str, Any]:
    spec = {"runner": runner, "device": "cpu", "seed": 0, "threads": None, "inductor_cache": True,
            "warmup": cfg.train.warmup_batches, "window": cfg.train.window_batches, "repeats": cfg.train.repeats,
            "batches_in_memory": cfg.train.batches_in_memory,
            "overrides": [*cfg.train.overrides, *cfg.train.device_overrides.cpu, *variant]}
    channel = ScriptedChannel(["warmup", *["go"] * cfg.train.repeats, "stop"])
    train_worker(channel, spec)
    errors = [m["message"] for m in channel.sent if m["event"] == "error"]
    assert not errors, errors[0]
    assert not channel.commands, "the worker did not consume the whole protocol"
    return record(channel.sent)


def test_report_has_every_required_figure():
    cfg = tiny_bench_config()
    results = header(cfg, "cpu")
    results["train"] = [
        {"name": "fp32", "overrides": [], "status": "ok", "runs": {r: run_in_process(cfg, r, []) for r in RUNNERS}},
        {"name": "gpu combo", "overrides": ["speed.compile=true"], "status": "skipped",
         "message": "not measured: no GPU"},
    ]
    results.update(load_after=results["load_before"], parent_rss_mib=1.0)
    for run in results["train"][0]["runs"].values():
        assert len(run["window_s"]) == cfg.train.repeats and all(s > 0 for s in run["window_s"])
        assert run["memory"]["peak_rss_mib"] >= run["memory"]["rss_after_imports_mib"] > 0
    text = format_report(results)
    fp32_row = next(line for line in text.splitlines() if line.strip().startswith("fp32"))
    # plain img/s, lightning img/s, overhead, warm-up, peak RSS both, RSS after imports both, CUDA peak both
    assert fp32_row.count("[") == 3 and fp32_row.count("/") >= 4
    for needle in ("plain img/s", "lightning img/s", "overhead", "peak RSS", "Stack overhead (fp32)",
                   "goal < 5 %", "not measured: no GPU", "load average", "code:"):
        assert needle in text, needle


def test_the_benchmark_parent_stays_free_of_torch():
    # A spawned child starts with its parent's peak RSS as its own ru_maxrss: a parent holding torch would inflate
    # every memory figure by several hundred MiB.
    code = "import sys, gan.bench.__main__; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


@pytest.mark.slow
def test_make_bench_end_to_end_on_tiny_settings():
    overrides = [f"train.overrides=[{','.join(TINY)}]", "train.warmup_batches=1", "train.window_batches=2",
                 "train.repeats=2", "train.batches_in_memory=2",
                 "train.variants=[{name: fp32, overrides: []}, {name: gpu, gpu_only: true, overrides: []}]"]
    out = subprocess.run([sys.executable, "-m", "gan.bench", *overrides], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Stack overhead (fp32)" in out.stdout and "not measured: no GPU" in out.stdout
