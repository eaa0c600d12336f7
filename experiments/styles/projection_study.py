"""Reconstruction of held-out digits: StyleGAN-lite projected in w (gan.sample.project, gan-project's method) vs a
DCGAN with no w space, whose latent z is optimised with the same losses, schedule and step count.

    .venv/bin/python experiments/styles/projection_study.py --stylegan experiments/styles/models/style_digits.pt \
        --dcgan experiments/styles/models/arch_dcgan_s0.pt --count 20 --out experiments/styles/projection

Held-out digits: the first `count` images of the digits test split (never trained on). Writes projection.json
(per image: pixel MSE and PSNR) and a strip PNG (rows: target, StyleGAN w + noise maps, StyleGAN w only with
the model's fixed noise, DCGAN z).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from PIL import Image

from gan.config import compose_config
from gan.data.pixels import to_uint8
from gan.losses import content_loss, pixel_loss
from gan.metrics.feature_maps import load_feature_net
from gan.sample.project import learning_rate, project, psnr
from gan.train.builders import build_dataset_factory
from gan.train.checkpoints import load_generator


def mse_and_psnr(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Pixel MSE and PSNR (gan-project's) of images in [-1, 1], both clamped as the PNGs are."""
    return float((a.clamp(-1, 1) - b.clamp(-1, 1)).square().mean()), psnr(a, b)


def project_z(generator: torch.nn.Module, target: torch.Tensor, features, settings, layers: list[str]) -> torch.Tensor:
    """The DCGAN baseline: Adam on z under the projector's loss and learning-rate schedule, z kept on the sphere of
    radius sqrt(latent_dim) where N(0, I) latents live (unconstrained, lr 0.1 walked z out of the prior and G gave
    grey noise: 9 dB). Starts from a seeded N(0, I) latent."""
    radius = math.sqrt(generator.latent_dim)
    z = torch.randn(1, generator.latent_dim)
    z = (z * radius / z.norm()).requires_grad_(True)
    optimizer = torch.optim.Adam([z], betas=(0.9, 0.999), lr=settings.initial_lr)
    with torch.no_grad():
        target_features = features(target, layers)
    for step in range(settings.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, settings.steps, settings.initial_lr, settings.lr_rampdown,
                                        settings.lr_rampup)
        image = generator(z)
        fake_features = features(image, layers)
        loss = settings.content_weight * content_loss([fake_features[k] for k in layers],
                                                      [target_features[k] for k in layers])
        loss = loss + settings.pixel_weight * pixel_loss(image, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            z.mul_(radius / z.norm())
    with torch.no_grad():
        return generator(z)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stylegan", required=True)
    parser.add_argument("--dcgan", required=True)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = compose_config("project", ["ckpt=unused", "image=unused"])
    settings = cfg.projection
    style, dcgan = load_generator(args.stylegan, "cpu"), load_generator(args.dcgan, "cpu")
    for loaded in (style, dcgan):
        loaded.generator.eval().requires_grad_(False)
    data_cfg = OmegaConf.create({"data": style.config["data"]})
    test = build_dataset_factory(data_cfg)("test")
    features = load_feature_net(cfg.features.classifier, style.generator.ws_resolutions[-1])
    options = {**OmegaConf.to_container(cfg.projection), "content_layers": list(cfg.features.content_layers),
               "style_layers": list(cfg.features.style_layers)}
    rows, strips = [], []
    for i in range(args.count):
        target = torch.as_tensor(test[i][0])[None]
        torch.manual_seed(i)
        styled = project(style.generator, target, features, **options).image
        torch.manual_seed(i)
        w_only = project(style.generator, target, features, **{**options, "optimize_noise": False}).image
        torch.manual_seed(i)
        baseline = project_z(dcgan.generator, target, features, settings, list(cfg.features.content_layers))
        s_mse, s_psnr = mse_and_psnr(styled, target)
        o_mse, o_psnr = mse_and_psnr(w_only, target)
        d_mse, d_psnr = mse_and_psnr(baseline, target)
        rows.append({"index": i, "stylegan_mse": s_mse, "stylegan_psnr": s_psnr, "stylegan_w_only_mse": o_mse,
                     "stylegan_w_only_psnr": o_psnr, "dcgan_mse": d_mse, "dcgan_psnr": d_psnr})
        strips.append(torch.cat([target, styled, w_only, baseline]))
        print(f"{i:3d}  StyleGAN-lite w+noise: {s_psnr:5.2f} dB  w only: {o_psnr:5.2f} dB  DCGAN z: {d_psnr:5.2f} dB",
              flush=True)
    summary = {}
    for key in ("stylegan_psnr", "stylegan_w_only_psnr", "dcgan_psnr", "stylegan_mse", "stylegan_w_only_mse",
                "dcgan_mse"):
        values = [row[key] for row in rows]
        summary[key] = {"mean": statistics.mean(values), "std": statistics.stdev(values)}
    (out / "projection.json").write_text(json.dumps({"stylegan": args.stylegan, "dcgan": args.dcgan,
                                                     "steps": int(cfg.projection.steps), "rows": rows,
                                                     "summary": summary}, indent=2))
    images = to_uint8(torch.stack(strips, dim=1).flatten(0, 1))  # rows: target, StyleGAN w+noise, w only, DCGAN
    n, c, h, w = images.shape
    grid = images.reshape(4, args.count, c, h, w).permute(0, 3, 1, 4, 2).reshape(4 * h, args.count * w, c)
    Image.fromarray(np.asarray(grid[..., 0] if c == 1 else grid)).save(out / "projection_strip.png")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
