"""`make bench` (`python -m gan.bench`): training and evaluation throughput, the stack's overhead, peak memory.

Pieces, each small:
- plain.py       the reference: GAN's training iteration as a bare PyTorch loop over the same objects
- lightning_run.py  the same networks driven by a real Lightning Trainer
- evaluation.py  per extractor, through gan.metrics: set-up (cold cache), extractor + FID update throughput,
                 one full evaluation; a random-weights Inception file (offline machine, same cost per image)
- config.py      conf/bench.yaml + command line (+ quick_settings when quick=true)
- memory.py      peak memory of the current process (RSS, and CUDA when present)
- windows.py     the worker side of the timing protocol (warm-up, then windows of batches on the parent's signal)
- worker.py      what runs in each measurement subprocess
- orchestrate.py the parent: one subprocess per measurement, plain and Lightning windows alternated (ABBA)
- report.py      the printed report

The parent process never imports torch: a spawned child starts with its parent's peak RSS as its own `ru_maxrss`,
so a heavy parent would inflate every child's memory figure.
"""
