"""gan-compare on run directories built by hand (the layout of CONTRACT.md), with expected numbers computed by hand."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import yaml

from gan.cli.compare import main as compare_main
from gan.compare import ProtocolMismatchError, compare, find_run_dirs, load_run

PROTOCOL = "classifier:digits-r32@sha256:1a2b3c4d5e6f/fake1000/ref:digits-r32-train"
OTHER_PROTOCOL = "classifier:digits-r32@sha256:1a2b3c4d5e6f/fake5000/ref:digits-r32-train"
COLUMNS = ["d_fake", "d_real", "epoch", "loss/d", "loss/g", "step", "global_step", "elapsed_s", "fid", "kid_mean",
           "kid_std", "eval_s", "protocol"]


def make_run(path: Path, *, loss: str, seed: int, fids: list[float] | None, steps: list[int] | None = None,
             state: str | None = "finished", protocol: str = PROTOCOL, lr: float = 2e-4) -> Path:
    """A run directory as gan-train writes it: .hydra/, status.json, metrics.csv with training and evaluation rows."""
    (path / ".hydra").mkdir(parents=True)
    config = {
        "seed": seed,
        "experiment_name": f"digits_dcgan_{loss}",
        "data": {"name": "digits", "resolution": 32},
        "loss": {"name": loss, "discriminator": {"_target_": f"gan.losses.{loss}_d", "_partial_": True}},
        "optim": {"generator": {"lr": lr, "betas": [0.5, 0.999]}},
        "metrics": {"monitor": "fid", "monitor_mode": "min"},
        "trainer": {"max_steps": 300, "devices": 1},
        "channels": "${data.resolution}",  # Hydra saves interpolations unresolved
    }
    (path / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (path / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"loss={loss}", f"seed={seed}"]))
    if state is not None:
        (path / "status.json").write_text(json.dumps({"state": state, "message": "boom" if state == "failed" else "",
                                                      "step": 300, "elapsed_s": 12.5}))
    steps = steps or [100 * (i + 1) for i in range(len(fids or []))]
    with (path / "metrics.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        for i, step in enumerate(steps):
            # a training row at the same step (Lightning's batch counter), which must be ignored
            writer.writerow({"d_fake": -1.0, "d_real": 1.0, "epoch": 0, "loss/d": 0.5, "loss/g": 2.0,
                             "step": step // 2})
            if fids is not None:
                writer.writerow({"step": step, "global_step": step, "elapsed_s": 1.5 * (i + 1), "fid": fids[i],
                                 "kid_mean": fids[i] / 1000, "kid_std": 0.001, "eval_s": 0.3, "protocol": protocol})
    return path


# loss=ns over three seeds, loss=hinge over two; values picked so that mean and std are easy by hand
NS = {0: [50.0, 30.0, 35.0], 1: [40.0, 25.0, 28.0], 2: [45.0, 32.0, 20.0]}
HINGE = {0: [60.0, 55.0, 50.0], 1: [70.0, 65.0, 60.0]}


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    root = tmp_path / "multirun" / "study"
    job = 0
    for loss, table in (("ns", NS), ("hinge", HINGE)):
        for seed, fids in table.items():
            make_run(root / str(job), loss=loss, seed=seed, fids=fids)
            job += 1
    # broken and unfinished runs: listed, never averaged in
    make_run(root / str(job), loss="ns", seed=3, fids=[10.0], state="failed")              # 5: failed (after an eval)
    make_run(root / str(job + 1), loss="ns", seed=4, fids=[5.0], state="running")          # 6: unfinished
    make_run(root / str(job + 2), loss="hinge", seed=2, fids=None)                         # 7: never evaluated
    make_run(root / str(job + 3), loss="hinge", seed=3, fids=[1.0], state=None)            # 8: no status.json
    make_run(root / str(job + 4), loss="ns", seed=5, fids=None, state=None)                # 9: nothing at all
    return root


def test_sweep_dir_expands_to_its_runs_in_job_order(sweep):
    make_run(sweep / "10", loss="hinge", seed=9, fids=[1.0])
    names = [p.name for p in find_run_dirs([sweep])]
    assert names == [str(i) for i in range(11)]
    (sweep / "compare").mkdir()  # an output folder without .hydra is not a run
    assert len(find_run_dirs([sweep])) == 11


def test_table_values_against_hand_computation(sweep):
    result = compare([load_run(p) for p in find_run_dirs([sweep])])
    assert result.metric == "fid" and result.mode == "min" and result.protocol == PROTOCOL
    # experiment_name and seed differ too but are not settings; loss.discriminator._target_ moves with loss.name
    assert result.group_keys == ["loss.name"]
    assert result.moves_with["loss.name"] == ["loss.discriminator._target_"]
    groups = {g.key: g for g in result.groups}
    ns, hinge = groups[("ns",)], groups[("hinge",)]

    # ns: best 30, 25, 20 -> mean 25, std sqrt((25 + 0 + 25) / 2) = 5; best at steps 200, 200, 300
    assert sorted(s.best for s in ns.summaries) == [20.0, 25.0, 30.0]
    from gan.compare.report import group_stats

    stats = group_stats(result, ns)
    assert stats["best fid"].mean == pytest.approx(25.0) and stats["best fid"].std == pytest.approx(5.0)
    # last 35, 28, 20: mean 83/3; deviations 22/3, 1/3, -23/3 -> var (484 + 1 + 529) / 9 / 2
    assert stats["last fid"].mean == pytest.approx(83 / 3)
    assert stats["last fid"].std == pytest.approx(math.sqrt(1014 / 18))
    assert stats["steps to best"].mean == pytest.approx(700 / 3)
    assert stats["steps to best"].std == pytest.approx(math.sqrt((2 * (100 / 3) ** 2 + (200 / 3) ** 2) / 2))
    # elapsed at the best evaluation: 2nd, 2nd, 3rd evaluation -> 3.0, 3.0, 4.5
    assert stats["time to best (s)"].mean == pytest.approx(3.5)
    # kid_mean at best = fid/1000 there: 0.030, 0.025, 0.020
    assert stats["kid_mean at best"].mean == pytest.approx(0.025)
    assert "kid_std at best" not in stats  # a per-evaluation uncertainty, not a quantity to average

    hs = group_stats(result, hinge)
    assert hs["best fid"].mean == pytest.approx(55.0) and hs["best fid"].std == pytest.approx(math.sqrt(50))
    # counts: ns has 3 in the table of 6 with its settings (failed, running, no status), hinge 2 of 4
    assert (len(ns.summaries), len(ns.runs)) == (3, 6)
    assert (len(hinge.summaries), len(hinge.runs)) == (2, 4)
    # ranked: the lower mean best FID first (alphabetical order would put hinge first)
    assert [g.key for g in result.groups] == [("ns",), ("hinge",)]


def test_broken_and_unfinished_runs_are_listed_with_reasons(sweep):
    result = compare([load_run(p) for p in find_run_dirs([sweep])])
    why = {r.path.name: "; ".join(r.problems) for r in result.excluded}
    assert set(why) == {"5", "6", "7", "8", "9"}
    assert "failed" in why["5"] and "boom" in why["5"]
    assert "unfinished" in why["6"]
    assert "no evaluation rows" in why["7"]
    assert "no status.json" in why["8"]


def test_a_job_refused_before_training_is_listed_not_dropped(sweep, tmp_path, capsys):
    # what gan-train leaves when validate refuses one combination of a sweep: status.json only (no config record)
    refused = sweep / "10"
    refused.mkdir()
    reason = "ConfigValueError: model.latent_codes=1 is not 0 or >= 2"
    (refused / "status.json").write_text(json.dumps({"state": "failed", "step": None, "elapsed_s": None,
                                                     "message": reason}))
    assert refused in find_run_dirs([sweep])
    result = compare([load_run(p) for p in find_run_dirs([sweep])])
    why = {r.path.name: "; ".join(r.problems) for r in result.excluded}
    assert "failed before training: ConfigValueError: model.latent_codes=1" in why["10"]
    assert "never recorded" in why["10"] and "metrics.csv" not in why["10"]
    # the table of the other runs is unchanged by it
    assert sorted(len(g.summaries) for g in result.groups) == [2, 3]
    out = tmp_path / "report"
    assert compare_main([str(sweep), "--out", str(out)]) == 0
    assert "model.latent_codes=1" in (out / "results.md").read_text()
    # a job still starting (status.json "starting", no config yet) is not said to have stopped
    starting = sweep / "11"
    starting.mkdir()
    (starting / "status.json").write_text(json.dumps({"state": "starting", "step": None, "message": ""}))
    problems = "; ".join(load_run(starting).problems)
    assert "has not started training yet" in problems and "stopped" not in problems, problems
    # a sweep of nothing but refused jobs: named with the reason, not "no run directories"
    only_refused = tmp_path / "only"
    (only_refused / "0").mkdir(parents=True)
    (only_refused / "0" / "status.json").write_text((refused / "status.json").read_text())
    with pytest.raises(ValueError, match="latent_codes=1"):
        compare([load_run(p) for p in find_run_dirs([only_refused])])


def test_cli_writes_markdown_csv_and_plots(sweep, tmp_path, capsys):
    out = tmp_path / "out"
    assert compare_main([str(sweep), "--out", str(out)]) == 0
    markdown = (out / "results.md").read_text()
    assert "| ns | 3/6 | 0 1 2 | 25 ± 5 |" in markdown
    assert "## Runs not in the table" in markdown and "boom" in markdown
    assert PROTOCOL in markdown
    with (out / "results.csv").open() as file:
        rows = {row["loss.name"]: row for row in csv.DictReader(file)}
    assert float(rows["hinge"]["best_fid_mean"]) == pytest.approx(55.0)
    assert float(rows["ns"]["best_fid_std"]) == pytest.approx(5.0)
    assert rows["ns"]["runs_included"] == "3" and rows["ns"]["runs_total"] == "6"
    with (out / "runs.csv").open() as file:
        runs = list(csv.DictReader(file))
    assert len(runs) == 10 and sum(r["included"] == "True" for r in runs) == 5
    for plot in ("fid_vs_step.png", "kid_mean_vs_step.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "best fid" in capsys.readouterr().out
    assert compare_main([str(sweep), "--out", str(out), "--reference", "real-vs-real=23.6"]) == 0
    assert "real-vs-real = 23.6" in (out / "results.md").read_text()
    assert compare_main([str(sweep), "--out", str(out), "--reference", "floor"]) == 2
    (tmp_path / "a_file").write_text("not a folder")
    assert compare_main([str(sweep), "--out", str(tmp_path / "a_file")]) == 2
    assert "gan-compare: error: --out" in capsys.readouterr().err and \
        (tmp_path / "a_file").read_text() == "not a folder"


def test_mixed_protocols_are_refused_naming_protocols_and_runs(tmp_path, capsys):
    a = make_run(tmp_path / "a", loss="ns", seed=0, fids=[30.0])
    b = make_run(tmp_path / "b", loss="ns", seed=1, fids=[20.0], protocol=OTHER_PROTOCOL)
    with pytest.raises(ProtocolMismatchError) as error:
        compare([load_run(a), load_run(b)])
    message = str(error.value)
    assert PROTOCOL in message and OTHER_PROTOCOL in message and str(a) in message and str(b) in message
    assert "not comparable" in message

    assert compare_main([str(a), str(b), "--out", str(tmp_path / "out")]) == 2
    assert "refusing" in capsys.readouterr().err
    assert not (tmp_path / "out" / "results.md").exists()
    # --by-protocol: one table per protocol instead
    assert compare_main([str(a), str(b), "--out", str(tmp_path / "out"), "--by-protocol"]) == 0
    assert len(list((tmp_path / "out").glob("*results.md"))) == 2
    # protocols that differ only past the file names' 60-character cut still get a table each
    late = "classifier:digits-r32@sha256:1a2b3c4d5e6f/ref:digits-r32-train-tf0.2-s0/pr:k3n1438/fake"
    c = make_run(tmp_path / "c", loss="ns", seed=0, fids=[30.0], protocol=late + "1000")
    d = make_run(tmp_path / "d", loss="ns", seed=1, fids=[20.0], protocol=late + "2000")
    assert compare_main([str(c), str(d), "--out", str(tmp_path / "late"), "--by-protocol"]) == 0
    tables = [path.read_text() for path in (tmp_path / "late").glob("*results.md")]
    assert len(tables) == 2
    assert sorted(late + "1000" in table for table in tables) == [False, True]  # one table per protocol


def test_two_protocols_inside_one_run_exclude_it(tmp_path):
    run = make_run(tmp_path / "r", loss="ns", seed=0, fids=[30.0, 20.0])
    text = (run / "metrics.csv").read_text().replace(PROTOCOL, OTHER_PROTOCOL, 1)
    (run / "metrics.csv").write_text(text)
    assert "2 metric protocols" in "; ".join(load_run(run).problems)


def test_groups_split_on_a_numeric_override_and_seed_only_runs_form_one_group(tmp_path):
    runs = [make_run(tmp_path / f"r{i}", loss="ns", seed=i % 2, fids=[10.0 + i], lr=lr)
            for i, lr in enumerate([1e-4, 1e-4, 2e-4, 2e-4])]
    result = compare([load_run(r) for r in runs])
    assert result.group_keys == ["optim.generator.lr"]
    assert [g.key for g in result.groups] == [(1e-4,), (2e-4,)]
    same = compare([load_run(r) for r in runs[:2]])
    assert same.group_keys == [] and len(same.groups) == 1


def test_unknown_direction_needs_mode(tmp_path):
    run = make_run(tmp_path / "r", loss="ns", seed=0, fids=[30.0])
    with pytest.raises(ValueError, match="--mode"):
        compare([load_run(run)], metric="eval_sharpness_custom")


def test_stat_of_infinite_and_missing_values():
    from gan.compare.table import stat

    s = stat([1.0, 3.0, float("nan")])
    assert (s.mean, s.std, s.n) == (2.0, pytest.approx(math.sqrt(2)), 2)
    s = stat([float("inf"), 1.0])  # toy kl_uniform of a run without high-quality samples
    assert s.mean == float("inf") and math.isnan(s.std) and s.n == 2
    assert stat([float("nan")]).n == 0


def test_a_key_that_follows_from_another_is_not_a_group_key(tmp_path):
    # gradient_penalty_weight is 10 for wgan_gp and 0 otherwise: it splits the runs in two, loss.name in three
    runs = []
    for i, loss in enumerate(["ns", "hinge", "wgan_gp"]):
        path = make_run(tmp_path / str(i), loss=loss, seed=0, fids=[10.0 + i])
        config = yaml.safe_load((path / ".hydra" / "config.yaml").read_text())
        config["loss"]["gradient_penalty_weight"] = 10.0 if loss == "wgan_gp" else 0.0
        (path / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
        runs.append(load_run(path))
    result = compare(runs)
    assert result.group_keys == ["loss.name"]
    assert "loss.gradient_penalty_weight" in result.moves_with["loss.name"]


def test_a_plot_of_only_infinite_values_says_why_it_is_empty(tmp_path, monkeypatch):
    import matplotlib.axes

    from gan.compare.report import plot_metric

    for seed in (0, 1):
        make_run(tmp_path / "runs" / str(seed), loss="ns", seed=seed, fids=[math.inf, math.inf])
    comparison = compare([load_run(p) for p in find_run_dirs([tmp_path / "runs"])], metric="fid")
    texts: list[str] = []
    original = matplotlib.axes.Axes.text

    def recording_text(self, x, y, s, *args, **kwargs):
        texts.append(s)
        return original(self, x, y, s, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "text", recording_text)
    plot_metric(comparison, "fid", tmp_path / "fid.png")
    assert any("every value of fid is infinite" in text for text in texts), texts


def _rewrite_config(path: Path, **sections: dict) -> Path:
    """The run's stored config with these top-level sections set (or replaced)."""
    config = yaml.safe_load((path / ".hydra" / "config.yaml").read_text())
    config.update(sections)
    (path / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    return path


def _with_lr_decay(path: Path, end: float | None) -> Path:
    """The run's config with the ramp-down keys as gan-train writes them; end None: a run from before `end` existed."""
    optim = yaml.safe_load((path / ".hydra" / "config.yaml").read_text())["optim"]
    optim["lr_decay"] = {"start": 0.7, "final": 0.0, **({} if end is None else {"end": end})}
    module = {"lr_decay_start": "${optim.lr_decay.start}",
              **({} if end is None else {"lr_decay_end": "${optim.lr_decay.end}"})}
    return _rewrite_config(path, optim=optim, module=module)


def test_a_key_added_later_at_its_old_value_does_not_split_a_study(tmp_path):
    old = [_with_lr_decay(make_run(tmp_path / f"old{s}", loss="ns", seed=s, fids=[10.0 + s]), None) for s in (0, 1)]
    new = _with_lr_decay(make_run(tmp_path / "new", loss="ns", seed=2, fids=[12.0]), 1.0)
    held = _with_lr_decay(make_run(tmp_path / "held", loss="ns", seed=0, fids=[20.0]), 0.7)
    runs = [load_run(p) for p in (*old, new, held)]
    assert [r.filled for r in runs] == [["optim.lr_decay.end", "module.lr_decay_end"]] * 2 + [[], []]
    result = compare(runs)
    # the runs from before the key trained to the end of the run (end = 1.0): one group with the new run at 1.0
    assert result.group_keys == ["optim.lr_decay.end"]
    assert [(g.key, sorted(r.seed for r in g.runs)) for g in result.groups] == [((1.0,), [0, 1, 2]), ((0.7,), [0])]
    from gan.compare import to_markdown

    assert "- `optim.lr_decay.end` = 1.0: 2 run(s)" in to_markdown(result)
    # a config without the anchor (not a run of this project's ramp) gets nothing
    assert load_run(make_run(tmp_path / "other", loss="ns", seed=0, fids=[1.0])).filled == []


def _with_dcgan_model(path: Path, latent_codes: int | None) -> Path:
    """The run's config with a DCGAN model section; latent_codes None: a run from before the codes existed."""
    generator = {"_target_": "gan.nets.dcgan.DCGANGenerator", "latent_dim": 100, "width": 16, "embed_dim": 32}
    model = {"name": "dcgan", "latent_dim": 100, "num_classes": 0, "generator": generator}
    if latent_codes is not None:
        model["latent_codes"] = latent_codes
        generator["latent_codes"] = "${model.latent_codes}"
    return _rewrite_config(path, model=model)


def test_runs_from_before_latent_codes_group_with_new_runs_without_codes(tmp_path):
    old = [_with_dcgan_model(make_run(tmp_path / f"old{s}", loss="ns", seed=s, fids=[10.0 + s]), None) for s in (0, 1)]
    plain = _with_dcgan_model(make_run(tmp_path / "plain", loss="ns", seed=2, fids=[12.0]), 0)
    codes = _with_dcgan_model(make_run(tmp_path / "codes", loss="ns", seed=0, fids=[8.0]), 10)
    runs = [load_run(p) for p in (*old, plain, codes)]
    assert runs[0].filled == ["model.latent_codes", "model.generator.latent_codes"]
    result = compare(runs)
    assert result.group_keys == ["model.latent_codes"]  # not model.generator.latent_codes: it follows the same value
    assert sorted((g.key, sorted(r.seed for r in g.runs)) for g in result.groups) == [((0,), [0, 1, 2]), ((10,), [0])]
    # a model without latent codes (the toy MLP: latent_dim but no embedding) is not said to predate them
    mlp = _rewrite_config(make_run(tmp_path / "mlp", loss="ns", seed=0, fids=[1.0]),
                          model={"name": "mlp", "latent_dim": 2, "generator": {"hidden_dim": 400}})
    assert load_run(mlp).filled == []


def test_keys_added_later_take_the_value_resume_and_the_defaults_give(compose_config):
    """Each filled key exists in today's config next to its anchor, its default is its old value, and a stored config
    without it resolves to that value when resumed (conf/train.yaml's oc.select): compare and resume agree."""
    from omegaconf import OmegaConf

    from gan.compare.runs import KEYS_ADDED_LATER
    from gan.train.builders import to_container
    from gan.train.resume import resumed_config

    composed = compose_config("resume=runs/old")
    stored = to_container(composed)
    for key, (anchor, value) in KEYS_ADDED_LATER.items():
        assert OmegaConf.select(composed, anchor) is not None, anchor
        assert OmegaConf.select(composed, key) == value, key
        parent, _, leaf = key.rpartition(".")
        node = stored
        for part in parent.split("."):
            node = node[part]
        del node[leaf]
    cfg = resumed_config(composed, stored, ["resume=runs/old"])
    # the value the module trains with (optim.lr_decay.end stays absent: the stored config is the run's record)
    for module_key in ("lr_decay_end", "r1_decay_start", "r1_decay_end", "top_k_final", "top_k_start", "top_k_end"):
        assert cfg.module[module_key] == KEYS_ADDED_LATER[f"module.{module_key}"][1], module_key
    assert OmegaConf.select(cfg, "optim.lr_decay.end") is None
