#!/usr/bin/python3
"""Reference outputs of ERRNet's networks (DRNet with its VGG-19 hypercolumn, Discriminator_VGG), for the C++ port's parity.

Usage:
  /usr/bin/python3 tools/errnet_parity.py REPO_DIR OUT_DIR [--size 64] [--batch 1] [--seed 0]
      [--n-feats 256] [--resblocks 13] [--no-hyper] [--init signal|edsr] [--threads N]

REPO_DIR is a checkout (or `git archive` export) of Vandermode/ERRNet. Its models package is
imported from there at run time; nothing of it is copied into this project. What the machine
lacks is replaced by stand-ins inserted in sys.modules before the import:
  torchvision      only `torchvision.models.vgg19(pretrained=...)` / `vgg16` are used (models/vgg.py,
                   models/losses.py): a stand-in whose `.features` is torchvision's layer list
                   (cfg "E": 16 3x3 convs padding 1, ReLU, 2x2 max pools) with torchvision's
                   init (kaiming_normal_ fan_out relu, zero bias) drawn from the seed: random
                   weights, no download. The parity compares the same weights on both sides, so
                   ImageNet weights are not needed.
  util.util        runs `stty size` at import (fails without a terminal) and imports
                   tensorboardX; the networks and ERRNetModel.forward use none of it (a stand-in
                   whose functions refuse to be called).
  util.index       imports skimage.measure.compare_ssim, gone from current scikit-image; it
                   scores evaluations only (a stand-in that refuses to be called).
The networks are built as the reference builds them (models/errnet_model.py initialize with
--hyper, options/errnet defaults): torch.manual_seed(seed); Vgg19(requires_grad=False);
arch.errnet(3 + 1472, 3) = DRNet(n_feats 256, 13 blocks, norm None, res_scale 0.1, SE 8,
bottom kernel 1, pyramid) initialised with init_weights(init_type='edsr') (PyTorch's layer
defaults); define_D(opt, 3) with which_model_D 'disc_vgg' = Discriminator_VGG(3,
use_sigmoid=False) with init_weights 'kaiming'. --n-feats / --resblocks build DRNet(...) with the
same arguments at another size; --no-hyper gives DRNet 3 input channels and no hypercolumn
(compare with --set model.hypercolumn=false). The input x (batch x 3 x S x S, uniform in [0, 1],
S even and >= 32) goes through ERRNetModel.forward itself (the hypercolumn: VGG features after
features[1, 6, 11, 20, 29], detached, bilinear align_corners=False to S x S, concatenated after
x). It writes OUT_DIR/errnet/:
  state_dict.pth                DRNet's state_dict (its names are ours) plus the VGG-19 features
                                renamed vgg_pretrained_features.<i> -> vgg.<i> (our nn::Vgg19 in
                                the model is registered as "vgg", its convs by features index)
  discriminator_state_dict.pth  Discriminator_VGG's state_dict (body.<i>, tail.<i>: our names)
  input.pt                      {"input": x}
  outputs.pt                    "output_i" = ERRNetModel.forward (our output "background"),
                                "fake_B" = the same tensor (dmgn parity feeds it to D),
                                "D" = D(x), "D_fake" = D(output_i)
  meta.json                     sizes, seed, init, torch version, parameter counts, shapes
and prints the parameter counts the reference's networks.print_network reports, and statistics
of the outputs (the fraction of exact zeros of the final ReLU, the change of each output for
another input: a parity test on an output that hardly depends on its input proves little).

Weights (--init), after the reference's own init above:
  signal  (default) re-draw every Conv2d / ConvTranspose2d / Linear weight of DRNet with
          kaiming_normal_(fan_in, relu); biases keep PyTorch's init. Measured at size 64, seed 0:
          output_i in [0, 0.106], 70.5% exact zeros (the final ReLU), and it changes by up to
          4.8e-2 for another input.
  edsr    keep the reference's init (PyTorch's defaults). Each conv + ReLU shrinks the signal
          (as in tools/lasirr_parity.py): output_i in [0, 0.026], 66.7% zeros, and it changes by
          only 7.7e-5 for another input, so a parity test would see few bugs.
The saved state_dict is what the outputs came from either way (the C++ side needs no knowledge
of the init). D keeps the reference's kaiming init (D(x) changes by 5.9e-2 for another input).

Compare with: dmgn parity OUT_DIR --config experiments/errnet/base.toml
"""
import argparse
import contextlib
import io
import json
import os
import sys
import types
import warnings


def install_stand_ins(torch, nn, seed_note):
    """torchvision, util.util and util.index stand-ins (see the module docstring)."""
    cfgs = {
        "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
        "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                  512, 512, 512, 512, "M"],
    }

    def features(cfg):
        layers, c = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                conv = nn.Conv2d(c, v, kernel_size=3, padding=1)
                nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
                nn.init.constant_(conv.bias, 0)
                layers += [conv, nn.ReLU(inplace=True)]
                c = v
        return nn.Sequential(*layers)

    class StandInVgg(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.features = features(cfg)

    def factory(name):
        def make(pretrained=False, **kwargs):
            seed_note.append(f"torchvision.models.{name}(pretrained={pretrained}): stand-in, random weights")
            return StandInVgg(cfgs[name])
        return make

    tv = types.ModuleType("torchvision")
    tv_models = types.ModuleType("torchvision.models")
    tv_models.vgg19 = factory("vgg19")
    tv_models.vgg16 = factory("vgg16")
    tv.models = tv_models
    sys.modules["torchvision"] = tv
    sys.modules["torchvision.models"] = tv_models

    def refuse(module, name):
        def f(*a, **k):
            raise RuntimeError(f"{module} stand-in: {name} is not part of the parity")
        return f

    import util  # the checkout's package (an empty __init__.py); its two modules are replaced
    for name, funcs in (("util", ("set_opt_param", "get_model_list", "tensor2im", "mkdirs")),
                        ("index", ("quality_assess",))):
        m = types.ModuleType("util." + name)
        for fn in funcs:
            setattr(m, fn, refuse("util." + name, fn))
        sys.modules["util." + name] = m
        setattr(util, name, m)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("repo")
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-feats", type=int, default=256)
    ap.add_argument("--resblocks", type=int, default=13)
    ap.add_argument("--no-hyper", action="store_true", help="DRNet on the image alone (3 input channels)")
    ap.add_argument("--init", choices=["edsr", "signal"], default="signal")
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.size % 2 or a.size < 32:
        sys.exit("errnet_parity.py: error: --size must be even and at least 32 (conv3's stride 2 and the "
                 "pyramid pooling's AvgPool2d(32) at full resolution)")
    for f in ("models/arch/default.py", "models/vgg.py", "models/networks.py", "models/errnet_model.py"):
        if not os.path.isfile(os.path.join(a.repo, f)):
            sys.exit(f"errnet_parity.py: error: '{a.repo}' has no {f} (a Vandermode/ERRNet checkout?)")
    import torch
    import torch.nn as nn
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    notes = []
    sys.path.insert(0, a.repo)
    install_stand_ins(torch, nn, notes)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        from models import arch, networks
        from models.arch.default import DRNet
        from models.errnet_model import ERRNetModel
        from models.vgg import Vgg19

    torch.manual_seed(a.seed)
    in_channels = 3 if a.no_hyper else 3 + 1472
    vgg = None if a.no_hyper else Vgg19(requires_grad=False)
    if a.n_feats == 256 and a.resblocks == 13:
        net = arch.errnet(in_channels, 3)
    else:
        net = DRNet(in_channels, 3, a.n_feats, a.resblocks, norm=None, res_scale=0.1, se_reduction=8,
                    bottom_kernel_size=1, pyramid=True)
    log = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(log):
        warnings.simplefilter("ignore")
        networks.init_weights(net, init_type="edsr")
        d = networks.define_D(types.SimpleNamespace(which_model_D="disc_vgg", gpu_ids=[]), 3)
    if a.init == "signal":
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

    # The reference's own parameter counts (networks.print_network prints the module tree first).
    def printed_counts(module):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            networks.print_network(module)
        return [line for line in buf.getvalue().splitlines()
                if line.startswith("Total number of parameters") or line.startswith("The size of receptive field")]

    net.eval()
    d.eval()
    if vgg is not None:
        vgg.eval()
    model = ERRNetModel()  # its __init__ sets epoch, iterations and device only
    model.vgg = vgg
    model.net_i = net

    def forward(x):
        model.input = x
        return ERRNetModel.forward(model)

    gen = torch.Generator().manual_seed(a.seed + 1)
    x = torch.rand(a.batch, 3, a.size, a.size, generator=gen)
    x2 = torch.rand(a.batch, 3, a.size, a.size, generator=gen)
    with torch.no_grad():
        out = forward(x).contiguous()
        outputs = {"output_i": out, "fake_B": out, "D": d(x).contiguous(), "D_fake": d(out).contiguous()}
        other = forward(x2)
        sensitivity = {"output_i": (other - out).abs().max().item(), "D": (d(x2) - outputs["D"]).abs().max().item()}
    for k, v in outputs.items():
        if not torch.isfinite(v).all():
            sys.exit(f"errnet_parity.py: error: output {k} is not finite")

    dst = os.path.join(a.out, "errnet")
    os.makedirs(dst, exist_ok=True)
    state = dict(net.state_dict())
    if vgg is not None:
        prefix = "vgg_pretrained_features."
        for k, v in vgg.state_dict().items():
            if not k.startswith(prefix):
                sys.exit(f"errnet_parity.py: error: unexpected VGG tensor '{k}'")
            state["vgg." + k[len(prefix):]] = v
    torch.save(state, os.path.join(dst, "state_dict.pth"))
    torch.save(d.state_dict(), os.path.join(dst, "discriminator_state_dict.pth"))
    torch.save({"input": x}, os.path.join(dst, "input.pt"))
    torch.save(outputs, os.path.join(dst, "outputs.pt"))

    count = lambda m: sum(p.numel() for p in m.parameters())
    zero_fraction = (out == 0).float().mean().item()
    meta = {"size": a.size, "batch": a.batch, "seed": a.seed, "init": a.init, "n_feats": a.n_feats,
            "resblocks": a.resblocks, "hypercolumn": not a.no_hyper, "torch_version": torch.__version__,
            "params_drnet": count(net), "params_vgg": count(vgg) if vgg is not None else 0,
            "params_d": count(d), "tensors_state_dict": len(state),
            "output_zero_fraction": zero_fraction, "input_sensitivity": sensitivity,
            "stand_ins": notes, "shapes": {k: list(v.shape) for k, v in outputs.items()}}
    with open(os.path.join(dst, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    for name, m in (("DRNet", net), ("Discriminator_VGG", d)):
        print(f"reference print_network({name}): " + "; ".join(printed_counts(m)))
    print(f"DRNet {meta['params_drnet']:,} parameters, VGG-19 features {meta['params_vgg']:,} (frozen), "
          f"D {meta['params_d']:,}; {len(state)} tensors in state_dict.pth")
    print("outputs: " + ", ".join(f"{k} {tuple(v.shape)} in [{v.min():.4f}, {v.max():.4f}]"
                                  for k, v in outputs.items() if k != "fake_B"))
    print(f"output_i: {100 * zero_fraction:.1f}% exact zeros (final ReLU); largest change for another input: "
          + ", ".join(f"{k} {v:.3e}" for k, v in sensitivity.items()))
    if zero_fraction > 0.9 or sensitivity["output_i"] < 1e-3:
        print("WARNING: output_i hardly depends on the input at this init; consider --init signal")
    print(f"wrote {dst}")


if __name__ == "__main__":
    main()
