#!/usr/bin/python3
"""Reference outputs of the official DMGN PyTorch models, for parity tests of the C++ port.

Usage:
  /usr/bin/python3 tools/official_parity.py OFFICIAL_REPO_DIR OUT_DIR
      [--tasks reflection rain haze] [--size 64] [--seed 0] [--init signal|pytorch]
      [--threads N]

OFFICIAL_REPO_DIR is a checkout of funkdub/DMGN-Deep-Masking-Generative-Network-TIP2021 (its
model_reflection.py, model_deraining.py, model_dehazing.py and vgg.py are imported from there at
run time; nothing of it is copied into this project). For each task this writes OUT_DIR/<task>/:
  state_dict.pth    the model's state_dict (see --init), torch.save zip format (the frozen
                    VGG-19 weights included, under head_feat.vgg.*)
  input.pt          the input I, 1x3xSxS in [-1,1] (smooth pattern + seeded noise)
  outputs.pt        {"B", "B_coarse", "R"}: the model's first three returned tensors, exactly as
                    returned (reflection: R+I, B_coarse+I, B+I; rain/haze: R, B_coarse, B with
                    only B having +I inside the model)
  intermediates.pt  {"head": head_feat(I) (1x64xSxS), "mask_B": separator mask (1x1xSxS)},
                    for locating a mismatch
  meta.json         task, size, seed, torch_version, num_params, num_trainable, macs (every
                    Conv2d/Linear call, as framework/metrics/macs.h counts), init, value
                    statistics of the VGG taps and outputs, input sensitivity
and prints a summary per task.

Weights (--init). torch.manual_seed(seed), then Model() builds the official modules.
  pytorch  keep them: PyTorch's default init (kaiming_uniform_, a=sqrt(5)) in the DMGN layers.
           Measured at size 64: every conv+ReLU shrinks the signal (2nd moment x1/6), so R and
           B_coarse are I plus an almost input-independent offset: replacing I by another image
           changes the network part of R/B_coarse by ~1e-5, and bugs such as a wrong VGG tap,
           align_corners=True in the hypercolumn resize, or an RDMC mask forced to 1 change
           R/B_coarse by < 5e-5 (often < 1e-6) -- a parity test could not see them.
  signal   (default) after Model(), every Conv2d/Linear weight outside the VGG is re-drawn with
           kaiming_normal_(mode='fan_in', nonlinearity='relu') (biases keep PyTorch's init).
           Outputs stay in about [-2.4, 1.3] with no tanh saturation, and the bugs above change
           the outputs by 0.009-0.44. The saved state_dict is what the outputs came from, so
           the C++ side needs no knowledge of the init.

torchvision is not needed: a stand-in `torchvision.models.vgg19(pretrained=...)` is put in
sys.modules. It returns an object whose `.features` is the standard VGG-19 feature stack
(16 3x3 convs, padding 1, ReLU(inplace=True), MaxPool2d(2, 2) after blocks 1-5) initialised as
torchvision does (kaiming_normal_(mode='fan_out', nonlinearity='relu'), zero biases), unscaled:
`pretrained` is ignored, the weights are random. On the [-1,1] input (the official head feeds I
to the VGG without ImageNet normalisation) the taps stay well-conditioned, max 0.69 (relu1_1)
down to 0.22 (relu5_1) at size 64, so no rescaling is needed (a per-layer gain compounds over
16 convs: x4 already sends relu5_1 to ~1e7). The stand-in does not build VGG's classifier, so
the RNG stream differs from a run with real torchvision; parity needs only the saved state_dict.
Before saving, every output is checked to be finite, and the VGG tap and output statistics and
the input sensitivity (largest change of the network part of each output when I is replaced by
the seed+1 input) are printed; a sensitivity under 1e-3 prints a WARNING.
"""
import argparse
import importlib
import json
import math
import os
import sys
import types

import torch
import torch.nn as nn

TASKS = {"reflection": "model_reflection", "rain": "model_deraining", "haze": "model_dehazing"}
# torchvision's cfgs["E"] (VGG-19): channel counts, "M" = 2x2 max pool.
VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
             512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
# Taps the official Vgg19.forward returns (indices 2, 7, 12, 21, 30 exclusive = after these).
VGG_TAPS = {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20, "relu5_1": 29}


def vgg19_features():
    layers, in_c = [], 3
    for v in VGG19_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            conv = nn.Conv2d(in_c, v, kernel_size=3, padding=1)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.constant_(conv.bias, 0)
            layers += [conv, nn.ReLU(inplace=True)]
            in_c = v
    return nn.Sequential(*layers)


def install_torchvision_standin():
    class _VGG:  # only .features is used by the official vgg.py
        def __init__(self, features):
            self.features = features

    def vgg19(pretrained=False, **kwargs):
        return _VGG(vgg19_features())

    tv = types.ModuleType("torchvision")
    models = types.ModuleType("torchvision.models")
    models.vgg19 = vgg19
    tv.models = models
    tv.__dmgn_standin__ = True
    sys.modules["torchvision"] = tv
    sys.modules["torchvision.models"] = models


def make_input(size, seed):
    """1x3xSxS in [-1,1]: smooth colour pattern + a soft edge + seeded noise."""
    y = torch.linspace(0, 1, size, dtype=torch.float64).view(size, 1)
    x = torch.linspace(0, 1, size, dtype=torch.float64).view(1, size)
    chans = []
    for c in range(3):
        v = (0.55 * torch.sin(2 * math.pi * (1.5 + 0.5 * c) * x + c)
             * torch.cos(2 * math.pi * (1.0 + 0.3 * c) * y - 0.5 * c)
             + 0.3 * (x - y) + 0.25 * torch.tanh(12 * (x + 0.5 * y - 0.6 - 0.05 * c)))
        chans.append(v)
    img = torch.stack(chans).unsqueeze(0)
    gen = torch.Generator().manual_seed(seed + 1)
    img = img + 0.08 * torch.randn(img.shape, generator=gen, dtype=torch.float64)
    return img.clamp(-1, 1).float()


def reinit_for_signal(model):
    """kaiming_normal_(fan_in, relu) on every Conv2d/Linear weight outside the frozen VGG."""
    vgg = set(model.head_feat.vgg.modules())
    for mod in model.modules():
        if mod not in vgg and isinstance(mod, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(mod.weight, mode="fan_in", nonlinearity="relu")


def stats(t):
    t = t.detach().double()
    return {"min": t.min().item(), "max": t.max().item(), "mean": t.mean().item(),
            "std": t.std().item()}


def fmt(s):
    return f"[{s['min']:.4g}, {s['max']:.4g}] mean {s['mean']:.4g} std {s['std']:.4g}"


class MacHooks:
    """Counts multiply-accumulates of every Conv2d/Linear call (as framework/metrics/macs.h)."""

    def __init__(self, model):
        self.total = 0
        self.handles = []
        for mod in model.modules():
            if isinstance(mod, nn.Conv2d):
                k = mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
                self.handles.append(mod.register_forward_hook(self._add(k)))
            elif isinstance(mod, nn.Linear):
                self.handles.append(mod.register_forward_hook(self._add(mod.in_features)))

    def _add(self, per_output):
        def hook(module, inputs, output):
            self.total += output.numel() * per_output
        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


def network_part(task, outs, I):
    """The part of (R, B_coarse, B) the network computes, i.e. without the added I."""
    R, B_coarse, B = outs[0], outs[1], outs[2]
    if task == "reflection":
        return {"B": B - I, "B_coarse": B_coarse - I, "R": R - I}
    return {"B": B - I, "B_coarse": B_coarse, "R": R}


def run_task(task, repo_dir, out_dir, size, seed, init, device="cpu"):
    module = importlib.import_module(TASKS[task])
    torch.manual_seed(seed)
    model = module.Model()
    if init == "signal":
        reinit_for_signal(model)
    model.eval()
    model.to(device)
    num_params = sum(p.numel() for p in model.parameters())
    num_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    I = make_input(size, seed).to(device)
    I_other = make_input(size, seed + 1).to(device)

    with torch.no_grad():
        taps = model.head_feat.vgg(I.clone())
        tap_stats = {name: stats(t) for name, t in zip(VGG_TAPS, taps)}
        head = model.head_feat(I.clone())
        _, _, mask_B, _ = model.seperator(head)
        hooks = MacHooks(model)
        outs = model(I.clone())
        hooks.remove()
        outs_other = model(I_other.clone())
    R, B_coarse, B = outs[0], outs[1], outs[2]
    result = {"B": B.contiguous().cpu(), "B_coarse": B_coarse.contiguous().cpu(), "R": R.contiguous().cpu()}
    for k, v in result.items():
        if tuple(v.shape) != (1, 3, size, size):
            raise RuntimeError(f"{task}: output {k} has shape {tuple(v.shape)}")
        if not torch.isfinite(v).all():
            raise RuntimeError(f"{task}: output {k} has non-finite values: {fmt(stats(v))}")
    part, part_other = network_part(task, outs, I), network_part(task, outs_other, I_other)
    sensitivity = {k: (part[k] - part_other[k]).abs().max().item() for k in part}
    out_stats = {k: stats(v) for k, v in result.items()}
    part_stats = {k: stats(v) for k, v in part.items()}

    d = os.path.join(out_dir, task)
    os.makedirs(d, exist_ok=True)
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, os.path.join(d, "state_dict.pth"))
    torch.save(I.cpu(), os.path.join(d, "input.pt"))
    torch.save(result, os.path.join(d, "outputs.pt"))
    torch.save({"head": head.contiguous().cpu(), "mask_B": mask_B.contiguous().cpu()},
               os.path.join(d, "intermediates.pt"))
    meta = {"task": task, "module": TASKS[task], "size": size, "seed": seed, "device": str(device),
            "torch_version": torch.__version__, "num_params": num_params,
            "num_trainable": num_trainable, "macs": hooks.total, "init": init,
            "vgg_init": "torchvision: kaiming_normal_(fan_out, relu), zero bias (random, unscaled)",
            "model_init": ("kaiming_normal_(fan_in, relu) weights outside the VGG, PyTorch "
                           "default biases" if init == "signal" else "PyTorch defaults"),
            "input": stats(I), "vgg_taps": tap_stats, "head": stats(head),
            "mask_B": stats(mask_B), "outputs": out_stats, "network_part": part_stats,
            "input_sensitivity": sensitivity,
            "official_repo_dir": os.path.abspath(repo_dir)}
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)

    print(f"{task}: {TASKS[task]}.Model size {size} seed {seed} init {init}: params "
          f"{num_params:,} (trainable {num_trainable:,}), {hooks.total / 1e9:.3f} GMACs -> "
          f"{os.path.abspath(d)}")
    print("  outputs: " + "; ".join(f"{k} {fmt(s)}" for k, s in out_stats.items()))
    print("  network part (without the added I): "
          + "; ".join(f"{k} std {s['std']:.4g}" for k, s in part_stats.items())
          + "; input sensitivity (max change for another I): "
          + ", ".join(f"{k} {v:.3g}" for k, v in sensitivity.items()))
    print("  VGG taps: " + "; ".join(f"{k} max {s['max']:.4g} mean {s['mean']:.4g}"
                                     for k, s in tap_stats.items())
          + f"; head {fmt(stats(head))}; mask_B {fmt(stats(mask_B))}")
    weak = [k for k, v in sensitivity.items() if v < 1e-3]
    if weak:
        print(f"  WARNING: {', '.join(weak)} barely depend on the input (< 1e-3): a parity "
              "comparison of them checks little beyond the biases (try --init signal)")
    return meta


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("official_repo_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", choices=["signal", "pytorch"], default="signal",
                    help="weights outside the VGG: re-drawn kaiming_normal_(fan_in) (signal) "
                         "or Model()'s PyTorch defaults (pytorch); see the module docstring")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="where the official model runs (cuda: plain fp32, TF32 off)")
    args = ap.parse_args()

    repo = os.path.abspath(args.official_repo_dir)
    missing = [f for f in ["vgg.py"] + [TASKS[t] + ".py" for t in args.tasks]
               if not os.path.isfile(os.path.join(repo, f))]
    if missing:
        sys.exit(f"official_parity: {repo} is not the official DMGN code: missing "
                 + ", ".join(missing))
    if args.size < 17:
        # G_refine's dilation-16 RDMC reflection-pads by 16, which needs a side > 16.
        sys.exit(f"official_parity: --size {args.size} is too small (the official G_refine "
                 "reflection-pads by 16: use 17 or more)")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    sys.dont_write_bytecode = True  # leave the official checkout untouched
    sys.path.insert(0, repo)
    install_torchvision_standin()
    if args.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("official_parity: --device cuda but torch.cuda.is_available() is False")
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    for task in args.tasks:
        run_task(task, repo, args.out_dir, args.size, args.seed, args.init, args.device)


if __name__ == "__main__":
    main()
