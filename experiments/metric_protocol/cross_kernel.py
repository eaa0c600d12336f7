"""The same shipped classifier under different CPU kernels: protocol id, features, FID and KID of a fixed fake set,
and (for contrast) the hash of a small classifier *trained* under each setting.

`python experiments/metric_protocol/cross_kernel.py`. Each setting is a fresh process (tests/kernel_probe.py), as
in tests/test_protocol_kernels.py, which asserts the 4-significant-digit agreement this prints.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.test_protocol_kernels import SETTINGS, probe  # noqa: E402


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        results = {name: probe(name, Path(tmp), train=True) for name in SETTINGS}
    base = results["native"]
    print(f"protocol (native): {base['protocol']}\n")
    print(f"{'setting':14s} {'capability':10s} {'same id':7s} {'max |dfeat|':>12s} {'fid':>12s} {'kid_mean':>12s} "
          f"{'trained sha256':>14s}")
    for name, result in results.items():
        diff = max(float((result[k] - base[k]).abs().max()) for k in ("real", "fake"))
        print(f"{name:14s} {result['capability']:10s} {str(result['protocol'] == base['protocol']):7s} {diff:12.3g} "
              f"{result['fid']:12.7g} {result['kid_mean']:12.7g} {result['trained_sha256'][:12]:>14s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
