#!/usr/bin/python3
"""Reference outputs of Physics-GAN's networks (G and one of D_g / D_h), for the C++ port's parity.

Usage:
  /usr/bin/python3 tools/pgan_parity.py REPO_DIR OUT_DIR [--size 64] [--batch 1] [--blocks 9]
      [--ngf 64] [--ndf 64] [--seed 0] [--threads N]

REPO_DIR is a checkout of Chanson94/Physicsgan (or cuiyixin555/PhysicsGan, the same networks);
its models/networks.py is imported from there at run time (nothing of it is copied into this
project). The script builds, as the released training does (norm instance, no dropout,
init_type normal):
  G = ResnetGenerator(3, 3, ngf, InstanceNorm2d(affine=False), n_blocks=blocks), init_weights 'normal'
  D = NLayerDiscriminator(3, ndf, n_layers=3, InstanceNorm2d(affine=False), use_sigmoid=False)
      (LSGAN: no sigmoid), init_weights 'normal'
and feeds y (batch x 3 x S x S, uniform in [-1, 1], S a multiple of 4). It writes
OUT_DIR/physics_gan/:
  state_dict.pth                G's state_dict (reference names: our parameter names)
  discriminator_state_dict.pth  D's state_dict with its Sequential "model." renamed "body."
                                (our PatchGan's name for the same layer list)
  input.pt                      {"input": y}
  outputs.pt                    "fake_B" = G(y); "D" = D(y); "D_fake" = D(G(y))
  meta.json                     sizes, seed, torch version, parameter counts of G and D
Compare with: dmgn parity OUT_DIR --config experiments/physics_gan/base.toml
"""
import argparse
import functools
import json
import os
import sys
import warnings


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("repo")
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--blocks", type=int, default=9)
    ap.add_argument("--ngf", type=int, default=64)
    ap.add_argument("--ndf", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.size % 4 or a.size < 8:
        sys.exit("pgan_parity.py: error: --size must be a multiple of 4 and at least 8")
    if not os.path.isfile(os.path.join(a.repo, "models", "networks.py")):
        sys.exit(f"pgan_parity.py: error: '{a.repo}' has no models/networks.py (a Physicsgan checkout?)")
    import torch
    import torch.nn as nn
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    sys.path.insert(0, a.repo)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from models import networks
    norm = functools.partial(nn.InstanceNorm2d, affine=False)
    torch.manual_seed(a.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # init.normal is deprecated in favour of init.normal_
        g = networks.ResnetGenerator(3, 3, a.ngf, norm_layer=norm, use_dropout=False, n_blocks=a.blocks)
        networks.init_weights(g, "normal")
        d = networks.NLayerDiscriminator(3, a.ndf, n_layers=3, norm_layer=norm, use_sigmoid=False)
        networks.init_weights(d, "normal")
    g.eval()
    d.eval()
    gen = torch.Generator().manual_seed(a.seed + 1)
    y = torch.rand(a.batch, 3, a.size, a.size, generator=gen) * 2 - 1
    with torch.no_grad():
        fake = g(y)
        outputs = {"fake_B": fake.contiguous(), "D": d(y).contiguous(), "D_fake": d(fake).contiguous()}
    for k, v in outputs.items():
        if not torch.isfinite(v).all():
            sys.exit(f"pgan_parity.py: error: output {k} is not finite")
    out = os.path.join(a.out, "physics_gan")
    os.makedirs(out, exist_ok=True)
    torch.save(g.state_dict(), os.path.join(out, "state_dict.pth"))
    dstate = {("body." + k[len("model."):] if k.startswith("model.") else k): v for k, v in d.state_dict().items()}
    torch.save(dstate, os.path.join(out, "discriminator_state_dict.pth"))
    torch.save({"input": y}, os.path.join(out, "input.pt"))
    torch.save(outputs, os.path.join(out, "outputs.pt"))
    count = lambda m: sum(p.numel() for p in m.parameters())
    meta = {"size": a.size, "batch": a.batch, "blocks": a.blocks, "ngf": a.ngf, "ndf": a.ndf, "seed": a.seed,
            "torch_version": torch.__version__, "params_g": count(g), "params_d": count(d),
            "shapes": {k: list(v.shape) for k, v in outputs.items()}}
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"G {meta['params_g']:,} parameters, D {meta['params_d']:,}; outputs "
          + ", ".join(f"{k} {tuple(v.shape)} in [{v.min():.3f}, {v.max():.3f}]" for k, v in outputs.items()))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
