"""TensorBoard reads right: the HPARAMS tab has the flattened config and final metrics, toy runs log their scatter."""

from __future__ import annotations

import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gan.sample.render import read_provenance
from gan.train.run import train
from tests.conftest import make_config


def test_toy_run_logs_hparams_with_final_metrics_and_the_scatter_image(tmp_path):
    train(make_config("data=grid25", "model=mlp", "metrics=toy", "data.dataset.num_samples=500",
                      "model.generator.hidden_dim=8", "model.discriminator.hidden_dim=8", "trainer.max_steps=8",
                      "eval_every_n_steps=4", "metrics.num_fake_samples=200", "metrics.batch_size=200",
                      "samples.points_to_plot=200", "trainer.log_every_n_steps=1"), tmp_path)
    hparams = yaml.safe_load((tmp_path / "tensorboard" / "hparams.yaml").read_text())
    assert hparams["loss.name"] == "ns" and hparams["model.generator.hidden_dim"] == 8
    assert "best/kl_uniform" in hparams and "last/modes_covered" in hparams
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert events.Tags()["images"] == ["samples"]
    assert [event.step for event in events.Images("samples")] == [4, 8]
    assert {tag.split("/")[0] for tag in events.Tags()["scalars"]} <= {"train", "eval", "best", "last"}
    # training scalars and evaluation rows share one x-axis, the global step (one D + one G update = 2 steps)
    assert [event.step for event in events.Scalars("train/loss/d")] == [2, 4, 6, 8]
    assert [event.step for event in events.Scalars("eval/modes_covered")] == [4, 8]
    # the training scatter plots carry provenance like gan-sample's images
    record = read_provenance(tmp_path / "samples" / "step_0000008.png")
    assert record["written_by"] == "gan-train" and record["global_step"] == 8 and record["g_steps"] == 4
    assert record["model_config"]["data"]["name"] == "grid25"


# ------------------------------------------------------------------------------------------------ sweep run names
def test_swept_keys_come_from_the_sweeps_own_record():
    from gan.train.sweep_name import swept_keys

    record = {"hydra": {"overrides": {"task": ["data=grid25", "loss=ns,hinge", "optim.generator.betas=[0.0,0.99]",
                                                "seed=range(3)", "+tag='a,b'"]},
                        "sweeper": {"params": {"optim.generator.lr": "interval(1e-4, 1e-3)", "seed": "0,1"}}}}
    # a list value or a quoted comma is one value, not a sweep; params keys follow the command line's
    assert swept_keys(record) == ["loss", "seed", "optim.generator.lr"]


def test_a_sweep_job_logs_tensorboard_under_its_swept_settings(tmp_path):
    """A job folder of a sweep (its parent holds multirun.yaml) writes TensorBoard to tensorboard/<swept settings>/."""
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text(yaml.safe_dump(
        {"hydra": {"overrides": {"task": ["data=grid25", "loss=ns,hinge", "seed=0,1"]}, "sweeper": {"params": None}}}))
    overrides = ["data=grid25", "model=mlp", "metrics=toy", "loss=hinge", "seed=1", "data.dataset.num_samples=500",
                 "model.generator.hidden_dim=8", "model.discriminator.hidden_dim=8", "trainer.max_steps=4",
                 "eval_every_n_steps=4", "metrics.num_fake_samples=200", "metrics.batch_size=200",
                 "samples.points_to_plot=200"]
    train(make_config(*overrides), sweep / "1", overrides=overrides)
    assert list((sweep / "1" / "tensorboard" / "loss=hinge,seed=1").glob("events.out.tfevents.*"))
    assert (sweep / "1" / "tensorboard" / "loss=hinge,seed=1" / "hparams.yaml").is_file()
    from gan.train.rundir import recorded_overrides
    from gan.train.sweep_name import sweep_job_name

    # a resume (`gan-train resume=<job>`, other command-line overrides) is named from the job's recorded overrides
    assert sweep_job_name(sweep / "1", recorded_overrides(sweep / "1")) == "loss=hinge,seed=1"
    # a single run (no multirun.yaml above it) keeps tensorboard/ itself
    assert sweep_job_name(tmp_path / "single", overrides) is None

