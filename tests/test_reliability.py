"""Nothing finished is lost: run directories belong to one run, signals save and exit non-zero, resumes keep the
record honest, broken files are named, errors are one clean message. Each test fails without its fix."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch

from gan.compare import load_run
from gan.sample.export import export_generator
from gan.train.checkpoints import NotAGANCheckpointError, load_generator, read_checkpoint
from gan.train.module import RunawayLossWarning
from gan.train.resume import ResumeSettingsError
from gan.train.rundir import RunDirectoryError, claim, read_status, run_dir_of_checkpoint
from gan.train.signals import GracefulStop, RunInterrupted
from gan.train.validate import ConfigValueError, validate
from tests.conftest import make_config
from tests.training_helpers import CrashAt, callback, last_ckpt, load, tiny_config, train_tiny

STEPS = 12


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("finished")
    train_tiny(run_dir, f"trainer.max_steps={STEPS}", "checkpoint.every_n_steps=4")
    return run_dir


class SendSignalAt(L.Callback):
    """Sends `signum` to this process once `step` global steps are done (as a scheduler or Ctrl-C would)."""

    def __init__(self, step: int, signum: int):
        self.step, self.signum, self.sent = step, signum, False

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step >= self.step and not self.sent:
            self.sent = True
            os.kill(os.getpid(), self.signum)


# ------------------------------------------------------------------------------------------------ run directories
def test_a_used_run_directory_is_refused_and_left_as_it_was(finished_run):
    before = {name: digest(finished_run / name) for name in ("checkpoints/last.ckpt", ".hydra/config.yaml",
                                                             "status.json")}
    with pytest.raises(RunDirectoryError, match=f"resume={finished_run}"):
        train_tiny(finished_run, "trainer.max_steps=2")
    assert {name: digest(finished_run / name) for name in before} == before


def test_a_directory_whose_run_failed_before_training_can_be_used_again(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(ConfigValueError):
        train_tiny(run_dir, "trainer.max_steps=2", "eval_every_n_steps=0")
    assert read_status(run_dir)["state"] == "failed"  # the record says why it never started
    train_tiny(run_dir, "trainer.max_steps=2")  # the corrected command, same directory
    assert read_status(run_dir)["state"] == "finished"
    failed_mid_run = {"state": "failed", "step": 2, "message": "NonFiniteLossError"}
    (run_dir / "checkpoints").rename(tmp_path / "elsewhere")  # only status.json left, but of a run that trained
    (run_dir / "metrics.csv").unlink(missing_ok=True)
    (run_dir / "status.json").write_text(json.dumps(failed_mid_run))
    with pytest.raises(RunDirectoryError):
        train_tiny(run_dir, "trainer.max_steps=2")


def test_a_checkpoint_outside_a_run_directory_resumes_only_into_a_directory_of_its_own(finished_run, tmp_path):
    loose = tmp_path / "downloads" / "model.ckpt"
    loose.parent.mkdir()
    loose.write_bytes((finished_run / "checkpoints" / "last.ckpt").read_bytes())
    with pytest.raises(RunDirectoryError, match="is not a run directory.*hydra.run.dir=<new empty dir>"):
        train_tiny(loose.parent, "trainer.max_steps=30", f"resume={loose}")  # the folder gan-train would pick
    assert sorted(p.name for p in loose.parent.iterdir()) == ["model.ckpt"]  # nothing written beside it
    train_tiny(tmp_path / "own", "trainer.max_steps=30", f"resume={loose}")
    assert read_status(tmp_path / "own")["state"] == "finished"
    # resume=<run>/checkpoints (tab completion) names the run, not a directory of its own
    assert run_dir_of_checkpoint(finished_run / "checkpoints") == finished_run


def test_two_runs_cannot_claim_one_directory(tmp_path):
    assert claim(tmp_path / "run", resume=None) is False
    with pytest.raises(RunDirectoryError):
        claim(tmp_path / "run", resume=None)


def test_default_run_directories_carry_microseconds():
    from gan.config import compose_config

    hydra = compose_config("train", return_hydra_config=True).hydra
    assert "%f" in str(hydra.run._get_node("dir")._value()) and "%f" in str(hydra.sweep._get_node("dir")._value())
    assert hydra.output_subdir is None  # the record is written after the checks, not by Hydra at start-up


def test_a_config_error_leaves_a_status_naming_it(tmp_path):
    with pytest.raises(ConfigValueError, match="data.batch_size"):
        train_tiny(tmp_path, "data.batch_size=-4")
    status = read_status(tmp_path)
    assert status["state"] == "failed" and "data.batch_size" in status["message"]


# ------------------------------------------------------------------------------------------------ signals
@pytest.mark.parametrize(("signame", "code"), [("SIGTERM", 143), ("SIGINT", 130), ("SIGUSR1", 138)])
def test_a_signal_saves_a_checkpoint_at_that_step_and_exits_non_zero(tmp_path, signame, code):
    signum = getattr(signal, signame)
    with pytest.raises(RunInterrupted) as stop:
        train_tiny(tmp_path, "trainer.max_steps=400", "checkpoint.every_n_steps=100",
                   callback(SendSignalAt, step=6, signum=int(signum)))
    assert stop.value.code == code
    status = read_status(tmp_path)
    assert status["state"] == "interrupted" and signame in status["message"]
    assert status["resume_command"] == f"gan-train resume={tmp_path}"
    assert load(last_ckpt(tmp_path))["global_step"] == status["step"] == stop.value.step
    # the handlers are given back: a signal now would not be swallowed by a finished run's callback
    assert not isinstance(getattr(signal.getsignal(signum), "__self__", None), GracefulStop)


def test_an_interrupted_run_resumes_to_the_uninterrupted_weights(tmp_path):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    common = ("trainer.max_steps=20", "checkpoint.every_n_steps=100")
    train_tiny(straight, *common)
    with pytest.raises(RunInterrupted):
        train_tiny(stopped, *common, callback(SendSignalAt, step=7, signum=int(signal.SIGTERM)))
    train_tiny(stopped, *common, f"resume={stopped}")
    a, b = load(last_ckpt(straight))["state_dict"], load(last_ckpt(stopped))["state_dict"]
    assert all(a[key].equal(b[key]) for key in a)
    assert read_status(stopped)["state"] == "finished"


# ------------------------------------------------------------------------------------------------ resume
def test_a_resume_that_changes_training_settings_is_refused_and_touches_nothing(finished_run, tmp_path):
    record = [finished_run / ".hydra" / "config.yaml", finished_run / "status.json"]
    before = [digest(path) for path in record]
    with pytest.raises(ResumeSettingsError, match="seed: checkpoint 0, now 7"):
        train_tiny(finished_run, f"trainer.max_steps={STEPS + 2}", "seed=7", f"resume={finished_run}")
    with pytest.raises(ResumeSettingsError, match="model.generator.width"):
        train_tiny(finished_run, "model.generator.width=16", f"resume={finished_run}")
    assert [digest(path) for path in record] == before


def test_changes_allowed_on_purpose_are_recorded(tmp_path):
    train_tiny(tmp_path, "trainer.max_steps=4")
    train_tiny(tmp_path, "trainer.max_steps=6", "optim.generator.lr=1e-4", "resume_allow_changes=true",
               f"resume={tmp_path}")
    lines = (tmp_path / ".hydra" / "resumes.jsonl").read_text().splitlines()
    assert len(lines) == 1 and "optim.generator.lr: checkpoint 0.0002, now 0.0001" in json.loads(lines[0])["changes"]


def test_resume_drops_rows_past_the_checkpoint_and_continues_the_clock(tmp_path):
    common = ("trainer.max_steps=24", "checkpoint.every_n_steps=8", "eval_every_n_steps=4", "metrics=classifier",
              "metrics.num_fake_samples=64", "metrics.batch_size=64", "metrics.kid.subset_size=16",
              "trainer.log_every_n_steps=1", f"metrics.cache_dir={tmp_path / 'cache'}")
    # crash at step 14: rows for steps 9..14 were logged after the checkpoint at 8 and are trained again on resume
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_tiny(tmp_path, *common, callback(CrashAt, step=14))
    train_tiny(tmp_path, *common, f"resume={tmp_path}")
    with open(tmp_path / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    evals = [row for row in rows if row.get("protocol")]
    steps = [int(float(row["global_step"])) for row in evals]
    assert steps == [4, 8, 12, 16, 20, 24], steps
    train_steps = [int(row["step"]) for row in rows if not row.get("protocol")]
    assert len(train_steps) == len(set(train_steps)) == 12
    elapsed = [float(row["elapsed_s"]) for row in evals]
    assert elapsed == sorted(elapsed) and elapsed[-1] > elapsed[1]


def test_stale_temporary_checkpoints_are_removed_on_resume(finished_run, tmp_path):
    run = tmp_path / "run"
    train_tiny(run, "trainer.max_steps=4")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = run / "checkpoints" / f".last.ckpt.{int(dead.stdout)}.tmp"
    stale.write_bytes(b"half a checkpoint")
    train_tiny(run, "trainer.max_steps=6", f"resume={run}")
    assert not stale.exists()


# ------------------------------------------------------------------------------------------------ files
def test_export_never_overwrites_a_training_checkpoint(finished_run):
    before = digest(last_ckpt(finished_run))
    with pytest.raises(FileExistsError, match="training checkpoint"):
        export_generator(finished_run, last_ckpt(finished_run))
    assert digest(last_ckpt(finished_run)) == before


def test_a_code_running_pickle_is_named_and_no_bypass_is_suggested(tmp_path):
    path = tmp_path / "evil.ckpt"
    import torch

    torch.save({"state_dict": {}, "f": os.system}, path)
    with pytest.raises(NotAGANCheckpointError) as error:
        read_checkpoint(path)
    message = str(error.value)
    assert "run that code" in message and "posix.system" in message
    assert "weights_only" not in message and "truncated" not in message


@pytest.mark.parametrize(("content", "reason"), [(b"\xff\xfe", "not UTF-8"),
                                                 (b"step,fid,protocol\n10,5.0,p\n20,4.", "middle of a row")])
def test_compare_lists_a_run_with_a_broken_metrics_file(finished_run, tmp_path, content, reason):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text((finished_run / ".hydra" / "config.yaml").read_text())
    (run / "status.json").write_text(json.dumps({"state": "finished", "step": 20}))
    (run / "metrics.csv").write_bytes(content)
    loaded = load_run(run)
    assert any(reason in problem for problem in loaded.problems), loaded.problems


# ------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(("override", "key"), [
    ("trainer.max_steps=abc", "trainer.max_steps"), ("data.batch_size=-4", "data.batch_size"),
    ("eval_every_n_steps=0", "eval_every_n_steps"), ("optim.generator.lr=0", "optim.generator.lr"),
    ("optim.discriminator.lr=-1", "optim.discriminator.lr"), ("seed=abc", "seed"),
    ("data.resolution=0", "data.resolution"), ("data.resolution=-32", "data.resolution"),
])
def test_bad_values_are_named_before_anything_runs(override, key):
    with pytest.raises(ConfigValueError, match=key):
        validate(tiny_config(override))


@pytest.mark.parametrize(("override", "message"), [
    ("model.num_classes=2", "model.num_classes=2 but data=digits has 10 classes.*model.num_classes=10"),
    ("data.channels=2", "data.channels=2 but data=digits has 1-channel images"),
])
def test_a_model_built_for_other_labels_or_channels_than_the_data_is_named(tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        train_tiny(tmp_path / "run", "trainer.max_steps=2", override)
    assert read_status(tmp_path / "run")["state"] == "failed"  # before any step


def test_a_conditional_model_needs_a_class_for_every_label_of_the_data():
    from types import SimpleNamespace

    from gan.train.builders import check_data_fits

    cfg = make_config("data=folder", "data.dataset.path=/x")
    labelled = SimpleNamespace(kind="image", channels=3, num_classes=3)
    check_data_fits(cfg, 10, labelled)  # more classes than the data's (a 10-class model fine-tuned on 3): fine
    check_data_fits(cfg, 0, SimpleNamespace(kind="image", channels=3, num_classes=0))
    with pytest.raises(ValueError, match="model.num_classes=2 but data=folder has 3 classes"):
        check_data_fits(cfg, 2, labelled)
    with pytest.raises(ValueError, match="has no labels.*model.num_classes=0"):
        check_data_fits(cfg, 3, SimpleNamespace(kind="image", channels=3, num_classes=0))


@pytest.mark.parametrize("pair", [("model=mlp", "data=digits"), ("model=dcgan", "data=grid25")])
def test_a_model_that_does_not_fit_the_data_is_named(pair):
    with pytest.raises(ConfigValueError, match="built for"):
        validate(make_config(*pair))


def test_a_ramp_without_a_run_length_is_named():
    """The presets' lr (and R1) ramps are fractions of trainer.max_steps: with -1 (no limit) they would silently
    never run."""
    with pytest.raises(ConfigValueError, match="optim.lr_decay.start=0.5 is a fraction of trainer.max_steps"):
        validate(make_config("experiment=digits_dcgan", "trainer.max_steps=-1", "+trainer.max_epochs=3"))
    validate(make_config("experiment=digits_dcgan", "trainer.max_steps=-1", "+trainer.max_epochs=3",
                         "optim.lr_decay.start=1"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_a_gpu_asked_for_on_a_machine_without_one_is_named(tmp_path):
    with pytest.raises(ConfigValueError, match="trainer.accelerator=gpu but torch finds no CUDA GPU.*trainer=cpu"):
        validate(tiny_config("trainer=gpu"))
    run_dir = tmp_path / "run"
    train_tiny(run_dir, "trainer.max_steps=2")
    with pytest.raises(ValueError, match="device=cuda but torch finds no CUDA GPU.*device=cpu"):
        load_generator(run_dir / "checkpoints" / "last.ckpt", "cuda")


def test_a_runaway_loss_is_reported(tmp_path):
    with pytest.warns(RunawayLossWarning, match="runaway_loss"):
        train_tiny(tmp_path, "trainer.max_steps=4", "module.runaway_loss=1e-6")


@pytest.mark.parametrize(("command", "override", "said"), [
    ("gan.cli.train", "trainer.max_stepz=3", "Key 'max_stepz' is not in struct"),
    ("gan.cli.train", "data=nonexist", "Could not find 'data/nonexist'"),
    ("gan.cli.sample", "seeds=[1,", "no viable alternative at input '[1,'"),
])
def test_a_config_hydra_cannot_compose_exits_2_without_a_traceback(command, override, said, tmp_path):
    """Hydra reports these itself (exit 1 before stop 30); every usage error of the project exits 2."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    done = subprocess.run([sys.executable, "-m", command, override, f"hydra.run.dir={tmp_path}"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert said in done.stderr and "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize("rows", [200000, 3])  # a long table, and one smaller than the pipe buffer (flushed at the end)
def test_a_reader_closing_stdout_ends_a_command_quietly(rows):
    """`gan-eval ... | head`: the table's print meets a closed pipe. SIGPIPE's exit status, no traceback."""
    from gan.cli.errors import BROKEN_PIPE_EXIT

    script = ("import sys, time\n"
              "from gan.cli.errors import clean_errors\n"
              "sys.stdin.readline()  # the reader has closed its end by now\n"
              "with clean_errors('gan-eval'):\n"
              f"    for i in range({rows}):\n"
              "        print('row', i)\n")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}  # buffered, as in a shell
    process = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    process.stdout.close()
    process.stdin.write("go\n")
    process.stdin.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == BROKEN_PIPE_EXIT == 141, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_a_broken_pipe_that_is_not_stdout_is_a_real_error():
    """A worker's pipe or a socket breaking is a failure to show, not a reader that stopped reading."""
    from gan.cli.errors import clean_errors

    with pytest.raises(BrokenPipeError), clean_errors("gan-train"):
        raise BrokenPipeError("a data-loader worker's pipe")


def test_exit_1_after_the_command_started_stays_1(monkeypatch):
    from gan.cli import errors

    def failing_sweep() -> None:  # a -m sweep whose job failed: Hydra exits 1 after the command's code ran
        with errors.clean_errors("gan-train", multirun=True):
            pass
        sys.exit(1)

    monkeypatch.setattr(errors, "_command_started", False)
    with pytest.raises(SystemExit) as stop:
        errors.exit_2_on_config_errors(failing_sweep)
    assert stop.value.code == 1
    monkeypatch.setattr(errors, "_command_started", False)
    with pytest.raises(SystemExit) as stop:
        errors.exit_2_on_config_errors(lambda: sys.exit(1))  # before it: Hydra refused the config
    assert stop.value.code == 2


@pytest.mark.slow
def test_cli_errors_are_one_clean_message_and_signals_exit_non_zero(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    bad = subprocess.run([sys.executable, "-m", "gan.cli.train", "eval_every_n_steps=0",
                          f"hydra.run.dir={tmp_path / 'bad'}"], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2
    assert "gan-train: error: eval_every_n_steps=0" in bad.stderr and "Traceback" not in bad.stderr + bad.stdout

    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "gan.cli.train", "data=grid25", "model=mlp",
                                "model.generator.hidden_dim=16", "model.discriminator.hidden_dim=16",
                                "trainer.max_steps=100000", "logger.tensorboard=false", f"hydra.run.dir={run}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 240
    while (read_status(run) or {}).get("state") != "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    step = read_status(run)["step"]
    assert read_status(run)["state"] == "interrupted" and load(last_ckpt(run))["global_step"] == step
    # `gan-train resume=<run>` alone: the run's own settings (hidden_dim=16 from the checkpoint), its own directory
    resumed = subprocess.run([sys.executable, "-m", "gan.cli.train", f"resume={run}",
                              f"trainer.max_steps={step + 10}"], capture_output=True, text=True, env=env,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert read_status(run)["state"] == "finished" and read_status(run)["step"] == step + 10


def test_errors_raised_inside_hydra_or_lightning_are_one_clean_message(capsys, monkeypatch):
    """An object Hydra could not build (the Inception extractor without its weights) shows the project's message,
    not Hydra's wrapper; Lightning's configuration errors are usage errors too."""
    from hydra.errors import InstantiationException
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from omegaconf.errors import MissingMandatoryValue

    from gan.cli.errors import clean_errors

    for name in ("HYDRA_FULL_ERROR", "GAN_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    wrapped = InstantiationException("Error in call to target 'x.Y':\nFileNotFoundError('weights not found')")
    wrapped.__cause__ = FileNotFoundError("weights not found; pass weights_path=...")
    missing = MissingMandatoryValue("Missing mandatory value: ckpt\n    full_key: ckpt\n    object_type=dict")
    missing.full_key = "ckpt"
    for error, message in ((wrapped, "weights not found; pass weights_path=..."),
                           (MisconfigurationException("No supported gpu backend found!"), "No supported gpu"),
                           (missing, "ckpt is required and was not given; pass ckpt=...")):
        with pytest.raises(SystemExit) as stop, clean_errors("gan-x"):
            raise error
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith(f"gan-x: error: {message}") and "Error in call to target" not in err
        assert "object_type" not in err


def test_an_added_key_that_nothing_reads_is_refused():
    from gan.cli.errors import refuse_added_keys

    refuse_added_keys("gan-sample", ["ckpt=run", "seeds=0-3", "++grid.nrow=4"])
    with pytest.raises(ValueError, match=r"\+seed=3: gan-sample has no option seed"):
        refuse_added_keys("gan-sample", ["ckpt=run", "+seed=3"])


def test_a_failed_command_removes_the_output_folder_it_left_empty(tmp_path, monkeypatch, capsys):
    from gan.cli.errors import clean_errors

    for name in ("HYDRA_FULL_ERROR", "GAN_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    empty, used = tmp_path / "empty", tmp_path / "used"
    empty.mkdir()
    used.mkdir()
    (used / "results.json").write_text("{}")
    for folder in (empty, used):
        with pytest.raises(SystemExit), clean_errors("gan-x", output_dir=folder):
            raise FileNotFoundError("ckpt=/nope: no such file")
    assert not empty.exists() and (used / "results.json").read_text() == "{}"
    assert capsys.readouterr().err.count("gan-x: error: ckpt=/nope") == 2


def test_a_failed_run_gives_the_signal_handlers_back(tmp_path):
    # Lightning's teardown after an exception re-installs the handlers it found at the start of fit (ours).
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)}
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_tiny(tmp_path, "trainer.max_steps=6", callback(CrashAt, step=2))
    assert {signum: signal.getsignal(signum) for signum in before} == before


def test_the_end_of_run_summary_names_only_files_the_run_wrote(tmp_path, capsys):
    """A 4-step run without metrics logs no metrics.csv (fewer steps than log_every_n_steps), no best.ckpt, and with
    logger.tensorboard=false no event files: the summary must not point at them."""
    train_tiny(tmp_path / "short", "trainer.max_steps=4", "metrics=none")
    summary = capsys.readouterr().out.split("Run finished", 1)[1]
    assert not (tmp_path / "short" / "metrics.csv").exists()
    assert "metrics:" not in summary and "TensorBoard" not in summary and "best.ckpt" not in summary
    assert f"checkpoints: {tmp_path / 'short' / 'checkpoints'}/ (last.ckpt)" in summary
    train_tiny(tmp_path / "long", "trainer.max_steps=60", "metrics=none", "trainer.log_every_n_steps=25",
               "logger.tensorboard=true")
    summary = capsys.readouterr().out.split("Run finished", 1)[1]
    assert f"metrics:     {tmp_path / 'long' / 'metrics.csv'}" in summary
    assert f"tensorboard --logdir {tmp_path / 'long' / 'tensorboard'}" in summary
