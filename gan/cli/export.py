"""`gan-export`: write G_ema alone (weights + config + source hash) from a training checkpoint or run directory."""

from __future__ import annotations

import argparse

from gan.cli.errors import clean_errors
from gan.sample.export import EXPORT_SUFFIX, export_generator
from gan.train.checkpoints import resolve_checkpoint_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="gan-export", description=__doc__)
    parser.add_argument("checkpoint", help="training checkpoint (.ckpt) or run directory (uses checkpoints/last.ckpt)")
    parser.add_argument("-o", "--out", default=None, help=f"output file (default: <checkpoint stem>{EXPORT_SUFFIX})")
    args = parser.parse_args(argv)
    with clean_errors("gan-export"):
        target = export_generator(args.checkpoint, args.out)
        source = resolve_checkpoint_path(args.checkpoint, "checkpoint")
    print(f"Exported G_ema to {target} ({target.stat().st_size / 1024:.1f} KiB; the training checkpoint "
          f"{source} is {source.stat().st_size / 1024:.1f} KiB). Sample with: gan-sample ckpt={target}")


if __name__ == "__main__":
    main()
