"""The parent: one subprocess per measurement, plain and Lightning windows alternated, results as plain dicts.

Never imports torch (see gan/bench/__init__.py); the device is probed in a throwaway subprocess.
"""

from __future__ import annotations

import datetime
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import tempfile
from typing import Any

from omegaconf import DictConfig, OmegaConf

from gan.bench import worker
from gan.paths import REPO_ROOT

REPO = REPO_ROOT
CUDA_PROBE = "import torch; print(torch.cuda.is_available())"


class WorkerFailed(RuntimeError):
    pass


class Worker:
    """A measurement subprocess and its end of the pipe."""

    def __init__(self, target: Any, spec: dict[str, Any], timeout_s: float):
        ctx = mp.get_context("spawn")  # a fresh interpreter: no state (or memory) inherited from the parent
        self.conn, child_conn = ctx.Pipe()
        self.process = ctx.Process(target=target, args=(child_conn, spec), daemon=True)
        self.process.start()
        child_conn.close()
        self.timeout_s = timeout_s

    def send(self, command: str) -> None:
        self.conn.send(command)

    def expect(self, event: str) -> dict[str, Any]:
        if not self.conn.poll(self.timeout_s):
            raise WorkerFailed(f"no {event!r} from the worker within worker_timeout_s={self.timeout_s}")
        try:
            message = self.conn.recv()
        except EOFError as err:
            raise WorkerFailed(f"the worker exited (code {self.process.exitcode}) before {event!r}") from err
        if message.get("event") == "error":
            raise WorkerFailed(message["message"])
        if message.get("event") != event:
            raise WorkerFailed(f"expected {event!r} from the worker, got {message!r}")
        return message

    def close(self, force: bool = False) -> None:
        """Wait for a normal exit; `force` (after a failure) ends the worker at once, as it may wait on a command."""
        self.process.join(0 if force else self.timeout_s)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()


def cuda_available() -> bool:
    out = subprocess.run([sys.executable, "-c", CUDA_PROBE], capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"


def train_spec(cfg: DictConfig, device: str, runner: str, variant: DictConfig) -> dict[str, Any]:
    t = cfg.train
    return {"runner": runner, "device": device, "seed": cfg.seed, "threads": cfg.threads,
            "inductor_cache": cfg.inductor_cache, "warmup": t.warmup_batches, "window": t.window_batches,
            "repeats": t.repeats, "batches_in_memory": t.batches_in_memory,
            "overrides": [*t.overrides, *t.device_overrides[device], *variant.overrides]}


def record(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """One runner's messages (built, warm, windows, done) as its result: setup info, warm-up, window times, memory."""
    run: dict[str, Any] = {"window_s": []}
    for message in messages:
        event = message["event"]
        if event == "built":
            run.update({k: v for k, v in message.items() if k != "event"})
        elif event == "warm":
            run["warmup_s"] = message["seconds"]
        elif event == "window":
            run["window_s"].append(message["seconds"])
        elif event == "done":
            run["memory"] = message["memory"]
    return run


def measure_variant(cfg: DictConfig, device: str, variant: DictConfig) -> dict[str, Any]:
    """Both runners of one variant; windows alternate plain/Lightning, the order flipping each repeat (ABBA) so a
    steady drift in machine load does not favour either side."""
    result: dict[str, Any] = {"name": variant.name, "overrides": list(variant.overrides)}
    workers = {r: Worker(worker.train_worker, train_spec(cfg, device, r, variant), cfg.worker_timeout_s)
               for r in worker.RUNNERS}
    messages: dict[str, list[dict[str, Any]]] = {r: [] for r in workers}
    try:
        for r, w in workers.items():
            messages[r].append(w.expect("built"))
        for r, w in workers.items():  # warm-ups one at a time: compile time is measured on an otherwise idle machine
            w.send("warmup")
            messages[r].append(w.expect("warm"))
        for i in range(cfg.train.repeats):
            for r in worker.RUNNERS if i % 2 == 0 else worker.RUNNERS[::-1]:
                workers[r].send("go")
                messages[r].append(workers[r].expect("window"))
        for r, w in workers.items():
            w.send("stop")
            messages[r].append(w.expect("done"))
        result.update(status="ok", runs={r: record(m) for r, m in messages.items()})
    except WorkerFailed as err:
        print(f"[bench] {variant.name} failed:\n{err}", file=sys.stderr)
        result.update(status="failed", message=str(err).strip().splitlines()[-1])
    finally:
        for w in workers.values():
            w.close(force=result.get("status") != "ok")
    return result


def run_training(cfg: DictConfig, device: str) -> list[dict[str, Any]]:
    results = []
    for variant in cfg.train.variants:
        if variant.get("gpu_only") and device != "cuda":
            results.append({"name": variant.name, "overrides": list(variant.overrides), "status": "skipped",
                            "message": "not measured: no GPU"})
            continue
        print(f"[bench] training: {variant.name} ...", file=sys.stderr, flush=True)
        results.append(measure_variant(cfg, device, variant))
    return results


def eval_spec(cfg: DictConfig, device: str, extractor: DictConfig, cache_dir: str) -> dict[str, Any]:
    e = cfg.eval
    return {"device": device, "seed": cfg.seed, "threads": cfg.threads, "inductor_cache": cfg.inductor_cache,
            "warmup": e.warmup_batches, "window": e.window_batches, "repeats": e.repeats,
            "batches_in_memory": e.batches_in_memory, "cache_dir": cache_dir,
            "random_inception_weights": bool(extractor.get("random_inception_weights", False)),
            "overrides": [*cfg.train.overrides, *cfg.train.device_overrides[device], *extractor.overrides,
                          *extractor.get("device_overrides", {}).get(device, [])]}


def measure_extractor(cfg: DictConfig, device: str, extractor: DictConfig) -> dict[str, Any]:
    """One extractor in its own process, from a cold cache (a fresh temporary directory): the set-up time is what
    the first evaluation of a run pays (classifier training or loading, real-feature extraction)."""
    result: dict[str, Any] = {"name": extractor.name}
    with tempfile.TemporaryDirectory(prefix="gan-bench-") as cache_dir:
        w = Worker(worker.eval_worker, eval_spec(cfg, device, extractor, cache_dir), cfg.worker_timeout_s)
        try:
            message = w.expect("done")
            result.update(status="ok", **{k: v for k, v in message.items() if k != "event"})
        except WorkerFailed as err:
            print(f"[bench] evaluation {extractor.name} failed:\n{err}", file=sys.stderr)
            result.update(status="failed", message=str(err).strip().splitlines()[-1])
        finally:
            w.close(force=result["status"] != "ok")
    return result


def run_evaluation(cfg: DictConfig, device: str) -> list[dict[str, Any]]:
    results = []
    for extractor in cfg.eval.extractors:
        print(f"[bench] evaluation: {extractor.name} ...", file=sys.stderr, flush=True)
        results.append(measure_extractor(cfg, device, extractor))
    return results


def git_state() -> str:
    """The commit measured, and whether the working tree differed from it (results are only comparable per code)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True, cwd=REPO).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "gan", "conf"], capture_output=True, text=True,
                               check=True, cwd=REPO).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{commit} + uncommitted changes" if dirty else commit


def header(cfg: DictConfig, device: str) -> dict[str, Any]:
    """What the report says about how and where it was measured, before any measurement runs."""
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "device": device,
        "host": f"{platform.node()} ({os.cpu_count()} CPUs, Python {platform.python_version()})",
        "code": git_state(),
        "load_before": os.getloadavg(),
        "overhead_goal": cfg.overhead_goal,
        "train_overrides": list(cfg.train.overrides),
        "warmup_batches": cfg.train.warmup_batches,
        "window_batches": cfg.train.window_batches,
        "repeats": cfg.train.repeats,
        "eval_window_batches": cfg.eval.window_batches,
        "eval_repeats": cfg.eval.repeats,
        "settings": OmegaConf.to_container(cfg, resolve=True),
    }
