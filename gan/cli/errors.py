"""One clean message and exit status 2 for the project's own errors; the traceback only when asked for.

A researcher who mistypes a path or a value should read what is wrong and how to fix it, not 30-55 lines of
traceback ending in it. Errors the project raises on purpose (bad config values, data, checkpoints, run directories,
a diverged loss) are ValueError/TypeError/FileNotFoundError/RuntimeError subclasses whose messages already name the
input and the fix. `HYDRA_FULL_ERROR=1` (Hydra's own switch, so one switch for every gan command) or `GAN_DEBUG=1`
shows the full traceback instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException, InstantiationException
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from gan.cli.quiet import quiet_known_messages
from gan.data.errors import DataError
from gan.train.checkpoints import CheckpointError
from gan.train.interrupted import RunInterrupted
from gan.train.rundir import run_dir_of_checkpoint

# Exit status for a usage error (bad input), as argparse and most Unix tools use it.
USAGE_ERROR_EXIT = 2
# A reader that closed our stdout: the shell's status for a process ended by SIGPIPE (128 + 13).
BROKEN_PIPE_EXIT = 141
DEBUG_VARIABLES = ("HYDRA_FULL_ERROR", "GAN_DEBUG")
USER_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, FileExistsError, IsADirectoryError,
               NotADirectoryError, PermissionError, FloatingPointError, CheckpointError, DataError,
               OmegaConfBaseException, InstantiationException)


class JobFailed(CompactHydraException):
    """One job of a `-m` sweep failed on a project error. An ordinary exception, not an exit: Hydra's launchers and
    the Optuna sweeper record the job as failed and run the next one (an exit would end the whole sweep); at the end
    Hydra reports the failure with this message alone (a CompactHydraException: no traceback)."""


def _message(error: BaseException) -> str:
    """The message that names the problem: a KeyError's key; for an object Hydra could not build (e.g. the Inception
    extractor without its weights file), the project error inside, not Hydra's wrapper around it."""
    if isinstance(error, InstantiationException) and isinstance(error.__cause__, USER_ERRORS):
        return _message(error.__cause__)
    if isinstance(error, MissingMandatoryValue) and error.full_key:
        # OmegaConf's text adds full_key/object_type lines that say nothing a user can act on
        return (f"{error.full_key} is required and was not given; pass {error.full_key}=... on the command line "
                "(--help lists the options)")
    return str(error) if not isinstance(error, KeyError) else f"missing key {error}"


def _is_user_error(error: BaseException) -> bool:
    """A project error (USER_ERRORS); Lightning's MisconfigurationException (a trainer setting this machine cannot
    run), looked up only if Lightning is loaded, so gan-eval and gan-sample start without importing it; an object
    Hydra could not build because of one of these, or because its `_target_` does not import."""
    if isinstance(error, InstantiationException):
        cause = error.__cause__
        return cause is None or isinstance(cause, ImportError) or _is_user_error(cause)
    if isinstance(error, USER_ERRORS):
        return True
    lightning_errors = sys.modules.get("lightning.fabric.utilities.exceptions")
    return lightning_errors is not None and isinstance(error, lightning_errors.MisconfigurationException)


def refuse_added_keys(command: str, overrides: list[str]) -> None:
    """gan-sample, gan-eval and gan-project read a fixed set of options: a `+key=value` (Hydra's hint for a key that
    does not exist) would add one that nothing reads, and the command would run as if it had not been given."""
    added = [o for o in overrides if o.startswith("+") and not o.startswith("++")]
    if added:
        key = added[0].lstrip("+").split("=", 1)[0]
        raise ValueError(f"{added[0]}: {command} has no option {key} ('+' adds a key that nothing reads); "
                         f"`{command} --help` lists its options")


def debugging() -> bool:
    return any(os.environ.get(name, "") not in ("", "0") for name in DEBUG_VARIABLES)


# Set when a command's own code starts (clean_errors' body): an exit before it was Hydra refusing the config.
_command_started = False


def exit_2_on_config_errors(hydra_main: Callable[[], Any]) -> None:
    """Run a `@hydra.main` function (called without arguments, as its console script does). Hydra reports a config
    it cannot compose (an unknown group option, a key not in the config, an override it cannot parse) as one message
    and exits 1; that is a usage error like any other here, so the exit status becomes 2. An exit 1 after the
    command's own code started (a failed job of a sweep, a crash with its traceback) stays 1."""
    try:
        hydra_main()
    except SystemExit as stop:
        if stop.code == 1 and not _command_started:
            raise SystemExit(USAGE_ERROR_EXIT) from None
        raise


def _stdout_closed_by_reader() -> bool:
    """Whether our stdout is a pipe whose reading end is closed (poll reports POLLERR on the write end)."""
    try:
        import select

        poller = select.poll()
        poller.register(sys.stdout.fileno(), 0)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows) or no stdout file descriptor
        return False


@contextmanager
def clean_errors(command: str, multirun: bool = False, output_dir: Path | None = None) -> Iterator[None]:
    """Run the body; a project error becomes `<command>: error: <message>` on stderr and exit status 2, or, in a job
    of a `-m` sweep (`multirun`), that message and a JobFailed, so the sweep goes on to its next job. `output_dir`
    (the folder Hydra made for the command's results) is removed if the failed command left it empty."""
    global _command_started
    _command_started = True
    if debugging():
        yield
        return
    try:
        yield
        # A table smaller than the pipe buffer meets the closed pipe only when flushed: here, not at interpreter exit
        # (where Python reports "Exception ignored ... BrokenPipeError" and exits 120).
        sys.stdout.flush()
    except BrokenPipeError:
        if not _stdout_closed_by_reader():
            raise  # another pipe (a worker process, a socket) broke: a real failure, with its traceback
        # stdout closed by its reader (`gan-eval ... | head`): the results files are written before the table is
        # printed, so nothing is lost; end quietly, as a tool killed by SIGPIPE does, not with a traceback. Further
        # writes (Python flushing stdout at exit) go to /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(BROKEN_PIPE_EXIT)
    except RunInterrupted as stop:
        print(f"{command}: {stop}. Continue with: gan-train resume={run_dir_of_checkpoint(stop.checkpoint)}",
              file=sys.stderr)
        raise
    except Exception as error:
        if not _is_user_error(error):
            raise
        message = _message(error)
        if output_dir is not None and output_dir.is_dir() and not any(output_dir.iterdir()):
            output_dir.rmdir()
        print(f"{command}: error: {message}\n(the full traceback: set HYDRA_FULL_ERROR=1)", file=sys.stderr)
        if multirun:
            raise JobFailed(f"{command}: error: {message}") from None
        sys.exit(USAGE_ERROR_EXIT)


def run_output_command(command: str, body: Callable[[Path, list[str]], Any]) -> None:
    """The task of gan-eval, gan-sample and gan-project, which write into the folder Hydra made for them: known library
    messages quieted, a `+key` refused, then `body(output folder, overrides)`, its project errors as one line (and the
    folder removed if the failed command left it empty)."""
    quiet_known_messages()
    hydra_cfg = HydraConfig.get()
    out_dir, overrides = Path(hydra_cfg.runtime.output_dir), list(hydra_cfg.overrides.task)
    with clean_errors(command, output_dir=out_dir):
        refuse_added_keys(command, overrides)
        body(out_dir, overrides)
