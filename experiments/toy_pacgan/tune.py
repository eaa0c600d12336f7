"""Quick single-seed tuning runs for the toy presets: gan-train's training step in plain torch, several G_ema variants.

Why not gan-train: the tuning questions (which batch, learning rate, D unit, how G_ema treats batch-norm statistics)
needed many runs on a shared 2-core CPU; without Lightning a step costs ~30% less at batch 50, and one run scores
several G_ema variants of the same G trajectory at once. The step is gan/train/module.py's (one D update on a fresh
real batch, then one G update, ns loss, Adam, G_ema after every G step with the same decay ramp-up); the networks,
data and metrics are the project's. Numbers from here are for comparing settings with each other; the study's
numbers (RESULTS.md) come from gan-train.

    OMP_NUM_THREADS=1 python experiments/toy_pacgan/tune.py --unit leaky_relu --batch 50 --lr_g 5e-4 --lr_d 5e-4 \
        --g_steps 12000 --eval_every 2000 --variants G,avg:0.999:0.1,avg:0.99:0

A variant `kind:decay:rampup` is a G_ema with that decay and ramp-up whose batch-norm buffers are `copy` (G's,
copied), `avg` (averaged with the weights' decay, what gan/train/module.py does) or `own` (its own running
statistics, from a forward pass in train mode on each G step's latents). `G` scores the generator itself. Each
evaluation prints one JSON line: per variant (modes covered, HQ fraction, KL to uniform), CPU and wall seconds.
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import time

import torch
import torch.nn.functional as F
from torch import nn

from gan.compat import lerp_all_
from gan.data.toy import grid25, ring8
from gan.metrics.toy import mode_metrics
from gan.nets.mlp import MLPDiscriminator, MLPGenerator
from gan.sample.latents import seeded_inputs

LATENT_DIM = 2
NUM_EVAL_SAMPLES = 2500
HQ_THRESHOLD_STD = 3.0
NUM_TRAIN_POINTS = 100_000
G_LAYERS, D_LAYERS = 4, 3


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="grid25", choices=["grid25", "ring8"])
    p.add_argument("--g_steps", type=int, default=6000)
    p.add_argument("--batch", type=int, default=100, help="samples per step; pack m: m x the GAN's batch")
    p.add_argument("--pack", type=int, default=1)
    p.add_argument("--lr_g", type=float, default=2e-4)
    p.add_argument("--lr_d", type=float, default=2e-4)
    p.add_argument("--beta1", type=float, default=0.5)
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--bn", type=int, default=1, help="batch norm in G")
    p.add_argument("--unit", default="maxout", choices=["maxout", "leaky_relu"])
    p.add_argument("--pieces", type=int, default=5)
    p.add_argument("--d_hidden", type=int, default=200)
    p.add_argument("--per_sample_init", type=int, default=0, help="D's first-layer units start on one sample each")
    p.add_argument("--shared_layers", type=int, default=0, help="D's hidden layers that read one sample at a time")
    p.add_argument("--g_hidden", type=int, default=400)
    p.add_argument("--n_critic", type=int, default=1, help="D updates per G update")
    p.add_argument("--lr_decay_frac", type=float, default=0.0, help="linear lr decay to lr_end over the last fraction")
    p.add_argument("--lr_end", type=float, default=0.0)
    p.add_argument("--decay_d", type=int, default=1, help="0: only G's lr ramps down, D keeps its lr")
    p.add_argument("--init_std", type=float, default=0.0, help="N(0, std) weights, zero biases (PacGAN's 0.02)")
    p.add_argument("--r1", type=float, default=0.0, help="R1 weight on real samples")
    p.add_argument("--r1_every", type=int, default=1)
    p.add_argument("--r1_until", type=float, default=1.0, help="R1 only over this first fraction of the G updates")
    p.add_argument("--eval_every", type=int, default=1000)
    p.add_argument("--topk_min", type=float, default=1.0,
                   help="top-k G loss (Sinha et al. 2020): keep the fraction of fakes D rates highest, 1 -> this")
    p.add_argument("--topk_decay_frac", type=float, default=0.5, help="fraction of the run over which top-k decays")
    p.add_argument("--latent_dim", type=int, default=LATENT_DIM)
    p.add_argument("--foreach", type=int, default=0, help="foreach Adam (G_ema is always one foreach lerp)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variants", default="G,copy:0.999:0.1,own:0.999:0.1,avg:0.999:0.1")
    p.add_argument("--save", default="", help="write the final samples of every variant to this .pt file")
    return p.parse_args()


def main() -> None:
    a = parse_args()
    torch.manual_seed(a.seed)
    ds = (grid25 if a.data == "grid25" else ring8)(num_samples=NUM_TRAIN_POINTS)
    G = MLPGenerator(a.latent_dim, 2, a.g_hidden, G_LAYERS, batch_norm=bool(a.bn))
    D = MLPDiscriminator(2, a.d_hidden, D_LAYERS, pack=a.pack, unit=a.unit, maxout_pieces=a.pieces,
                         per_sample_init=bool(a.per_sample_init), shared_layers=a.shared_layers)
    variants = a.variants.split(",")
    if a.init_std:
        for net in (G, D):
            for m in net.modules():
                if isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0.0, a.init_std)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
    emas = {v: copy.deepcopy(G).eval().requires_grad_(False) for v in variants if v != "G"}
    spec = {v: (v.split(":")[0], float(v.split(":")[1]), float(v.split(":")[2])) for v in emas}
    og = torch.optim.Adam(G.parameters(), a.lr_g, betas=(a.beta1, a.beta2), foreach=bool(a.foreach))
    od = torch.optim.Adam(D.parameters(), a.lr_d, betas=(a.beta1, a.beta2), foreach=bool(a.foreach))
    z_eval, _ = seeded_inputs(NUM_EVAL_SAMPLES, 0, a.latent_dim, 0)
    perm, pos = torch.randperm(len(ds.points)), 0
    t0, r0 = time.time(), resource.getrusage(resource.RUSAGE_SELF)

    def lr_factor(t: int) -> float:
        start = a.g_steps * (1 - a.lr_decay_frac)
        if a.lr_decay_frac <= 0 or t < start:
            return 1.0
        return 1.0 - (1.0 - a.lr_end) * (t - start) / (a.g_steps - start)

    def next_real() -> torch.Tensor:
        nonlocal perm, pos
        if pos + a.batch > len(perm):
            perm, pos = torch.randperm(len(ds.points)), 0
        real = ds.points[perm[pos : pos + a.batch]]
        pos += a.batch
        return real

    def evaluate(step: int) -> None:
        row: dict[str, object] = {"g_steps": step}
        for v in variants:
            net = G if v == "G" else emas[v]
            was = net.training
            net.eval()
            with torch.no_grad():
                x = net(z_eval)
            net.train(was)
            m = mode_metrics(x, ds.means, ds.std, HQ_THRESHOLD_STD)
            row[v] = (m.modes_covered, round(m.hq_fraction, 3), round(m.kl_uniform, 3))
        r = resource.getrusage(resource.RUSAGE_SELF)
        row["cpu"] = round(r.ru_utime - r0.ru_utime + r.ru_stime - r0.ru_stime, 1)
        row["wall"] = round(time.time() - t0, 1)
        print(json.dumps(row), flush=True)

    for t in range(1, a.g_steps + 1):
        f = lr_factor(t)
        for o, lr, ramps in ((og, a.lr_g, True), (od, a.lr_d, bool(a.decay_d))):
            for group in o.param_groups:
                group["lr"] = lr * f if ramps else lr
        for _ in range(a.n_critic):
            real = next_real()
            z = torch.randn(a.batch, a.latent_dim)
            with torch.no_grad():
                fake = G(z)
            do_r1 = a.r1 > 0 and t % a.r1_every == 0 and t < a.r1_until * a.g_steps
            real_in = real.clone().requires_grad_(do_r1)
            real_logits = D(real_in)
            loss_d = F.softplus(-real_logits).mean() + F.softplus(D(fake)).mean()
            if do_r1:
                (grad,) = torch.autograd.grad(real_logits.sum(), real_in, create_graph=True)
                loss_d = loss_d + a.r1 * a.r1_every * grad.pow(2).sum(1).mean()
            od.zero_grad()
            loss_d.backward()
            od.step()
        z = torch.randn(a.batch, a.latent_dim)
        D.requires_grad_(False)
        g_losses = F.softplus(-D(G(z))).flatten()
        keep = max(a.topk_min, 1.0 - (1.0 - a.topk_min) * t / (a.topk_decay_frac * a.g_steps))
        if keep < 1.0:  # the fakes D rates least real have the largest loss: drop them
            g_losses = g_losses.topk(max(1, round(keep * len(g_losses))), largest=False).values
        loss_g = g_losses.mean()
        og.zero_grad()
        loss_g.backward()
        og.step()
        D.requires_grad_(True)
        with torch.no_grad():
            for v, E in emas.items():
                kind, dmax, ramp = spec[v]
                decay = min(dmax, 1.0 - 1.0 / max(1.0, ramp * t)) if ramp else dmax
                lerp_all_(list(E.parameters()), list(G.parameters()), 1 - decay)
                if kind == "copy" or decay == 0:
                    for eb, gb in zip(E.buffers(), G.buffers(), strict=True):
                        eb.copy_(gb)
                elif kind == "avg":
                    for eb, gb in zip(E.buffers(), G.buffers(), strict=True):
                        if eb.dtype.is_floating_point:
                            eb.lerp_(gb, 1 - decay)
                        else:
                            eb.copy_(gb)
                elif kind == "own":
                    E.train()
                    E(z)
                    E.eval()
        if t % a.eval_every == 0:
            print(json.dumps({"loss_d": round(loss_d.item(), 3), "loss_g": round(loss_g.item(), 3)}))
            evaluate(t)

    if a.save:
        with torch.no_grad():
            out = {"G": G.eval()(z_eval), **{v: E(z_eval) for v, E in emas.items()}}
        torch.save(out, a.save)


if __name__ == "__main__":
    main()
