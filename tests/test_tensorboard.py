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
