"""`gan-blend`: one generator from two of the same architecture (a model and its fine-tune), written as an export.

    gan-blend A B -o blend.pt --swap-resolution 8             # sides <= 8 from A (structure), above from B (style)
    gan-blend A B -o blend.pt --alpha 0.5                     # every synthesis tensor halfway between A and B
    gan-blend A B -o blend.pt --swap-resolution 8 --ramp-width 1 --alpha 0.8
    gan-sample ckpt=blend.pt                                  # draw from it like from any export

A and B: training checkpoints, run directories (checkpoints/last.ckpt, or best.ckpt with --which best) or exports.
B's share of a synthesis tensor at side res is t = alpha * s(res): s is 1 without a swap, else 0 at and below the
swap resolution and 1 above it (or a linear ramp over --ramp-width levels); blended = (1 - t) A + t B. The mapping
network and w_avg come from A unless --mapping says otherwise (b: from B; alpha: blended with alpha). Generators that
are not style-based (DCGAN, ResNet) take a global --alpha only. The method is gan/sample/blend.py's docstring.
"""

from __future__ import annotations

import argparse
import sys

from gan.cli.errors import clean_errors
from gan.sample.blend import MAPPING_CHOICES, BlendSettings, blend_generators


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gan-blend", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", metavar="A", help="parent A: coarse levels (sides <= the swap resolution), the mapping "
                        "network and w_avg by default; its config rebuilds the blend")
    parser.add_argument("b", metavar="B", help="parent B: fine levels (sides above the swap resolution)")
    parser.add_argument("-o", "--out", required=True, help="output export file (must not be A, B or a training "
                        "checkpoint)")
    parser.add_argument("--alpha", type=float, default=None,
                        help="B's share in [0, 1], scaled by the swap step (default 1 with --swap-resolution)")
    parser.add_argument("--swap-resolution", type=int, default=None,
                        help="the last side taken from A (4, 8, ...); sides above it come from B")
    parser.add_argument("--ramp-width", type=int, default=0,
                        help="levels above the swap resolution over which B's share rises linearly (0: hard swap)")
    parser.add_argument("--mapping", choices=MAPPING_CHOICES, default=None,
                        help="where the mapping network and w_avg come from: a (default), b, or alpha (blended)")
    parser.add_argument("--which", choices=("last", "best"), default="last",
                        help="for a run directory: checkpoints/last.ckpt (default) or best.ckpt")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with clean_errors("gan-blend"):
        if args.alpha is None and args.swap_resolution is None:
            raise ValueError("say how to blend: --swap-resolution R (a layer swap), --alpha a (a global mix), or both")
        settings = BlendSettings(alpha=1.0 if args.alpha is None else args.alpha,
                                 swap_resolution=args.swap_resolution, ramp_width=args.ramp_width,
                                 mapping=args.mapping)
        target = blend_generators(args.a, args.b, args.out, settings, which=args.which,
                                  log=lambda line: print(line, file=sys.stderr))
    print(f"Blended generator written to {target} ({target.stat().st_size / 1024:.1f} KiB). "
          f"Sample with: gan-sample ckpt={target}")


if __name__ == "__main__":
    main()
