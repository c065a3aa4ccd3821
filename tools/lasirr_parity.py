#!/usr/bin/python3
"""Reference outputs of the official Location-aware SIRR network (LRM), for parity tests of the C++ port.

Usage:
  /usr/bin/python3 tools/lasirr_parity.py REPO_DIR OUT_DIR [--size 64] [--batch 1]
      [--iterations 3] [--seed 0] [--init signal|pytorch] [--threads N]

REPO_DIR is a checkout of zdlarr/Location-aware-SIRR; its location_aware_sirr_model.py is
imported from there at run time (nothing of it is copied into this project). The script builds
LRM(cpu), feeds an input I (batch x 3 x S x S in [0,1], S a multiple of 8 because the Laplacian
pyramid works at S/8, S/4, S/2 and S) and runs the recurrence of LocationAwareSIRR.forward:
h = c = zeros(b, 64, S, S), T_prev = I, and per iteration
h, c, c_map, R, frame1, frame2, T = LRM(I, T_prev, h, c); T_prev = T.
Nothing is clamped (the official code clamps only after the loop, for display). It writes
OUT_DIR/location_sirr/:
  state_dict.pth  LRM's state_dict (see --init), torch.save zip format; includes the
                  Laplacian kernel lap_pyramid.kernel (a Parameter, 6x1x3x3) and PReLU weights
  input.pt        {"input": I}; image n of the batch depends on (seed, n) only, not on --batch
  outputs.pt      raw float32 tensors per iteration k: "T_hat.k" (b x3xSxS), "R_hat.k" (b x3xSxS),
                  "c_map.k" (b x1xSxS), "frame1.k" (b x3xS/4xS/4), "frame2.k" (b x3xS/2xS/2),
                  and the final LSTM state "h.N-1", "c.N-1" (b x64xSxS), N = --iterations
  meta.json       model, size, batch, iterations, seed, init, torch_version, num_params,
                  num_trainable, param_breakdown (top-level module -> count),
                  macs_per_iteration (every Conv2d / ConvTranspose2d / Linear call of ONE LRM
                  call at batch 1: conv out_elems*Cin/g*kh*kw, transposed conv
                  in_elems*Cout/g*kh*kw, linear in*out*batch), macs_laplacian (the four depthwise
                  F.conv2d calls of the pyramid, not in macs_per_iteration), the same two at
                  256x256 (*_256), output statistics and the input sensitivity
and prints a summary.

Weights (--init). torch.manual_seed(seed), then LRM(torch.device('cpu')).
  pytorch  keep PyTorch's default init (kaiming_uniform_, a=sqrt(5)). As in the DMGN models
           (tools/official_parity.py) each conv+ReLU shrinks the signal. Measured at size 64,
           seed 0: frame1 changes by only ~2.7e-7 for another input, T_hat.1/T_hat.2 are 91%
           exactly zero (max 0.034), c_map stays within 0.50 +- 0.03 -- a parity test would
           see few bugs.
  signal   (default) re-draw every Conv2d / ConvTranspose2d / Linear weight with
           kaiming_normal_(mode='fan_in', nonlinearity='relu'); biases keep PyTorch's init,
           PReLU weights keep 0.25, and lap_pyramid.kernel keeps the fixed Laplacian
           [[0,-1,0],[-1,4,-1],[0,-1,0]] it is constructed with (it is a Parameter but no
           nn.Conv2d; re-drawing it would lose the operator the port must reproduce).
           (For ConvTranspose2d PyTorch's fan_in is weight dim 1 = Cout*kh*kw, as is.)
           Measured at size 64, seed 0: T_hat in [0, 1.37] and about 50% positive, R_hat
           ~40% positive, c_map in [0.04, 0.62] with no saturation, |h| < 0.5, and every
           output changes by 0.036-0.35 for another input. The saved state_dict is what the
           outputs came from, so the C++ side needs no knowledge of the init.
Before saving, every output is checked to be finite; the fraction of positive / exactly-zero
values of the ReLU outputs (T_hat, R_hat, frames) and of saturated sigmoid/tanh values (c_map,
|h|) is printed, with a WARNING when over 90% of a T_hat/R_hat is zero or over 50% of c_map/h is
saturated. The input sensitivity is the largest change of each output when I is replaced by the
seed+1 input (whole recurrence rerun); under 1e-3 prints a WARNING.
"""
import argparse
import importlib
import json
import math
import os
import sys
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

MODULE = "location_aware_sirr_model"
EXPECTED_PARAMS = 10925719


def make_input(batch, size, seed):
    """batch x 3 x S x S in [0,1]: smooth colour pattern + soft edge + seeded noise, clipped."""
    y = torch.linspace(0, 1, size, dtype=torch.float64).view(size, 1)
    x = torch.linspace(0, 1, size, dtype=torch.float64).view(1, size)
    imgs = []
    for n in range(batch):
        chans = []
        for c in range(3):
            ph = c + 0.7 * n
            chans.append(0.5 + 0.3 * torch.sin(2 * math.pi * (1.5 + 0.5 * c) * x + ph)
                         * torch.cos(2 * math.pi * (1.0 + 0.3 * c) * y - 0.5 * ph)
                         + 0.15 * (x - y) + 0.12 * torch.tanh(12 * (x + 0.5 * y - 0.6 - 0.05 * ph)))
        img = torch.stack(chans)
        gen = torch.Generator().manual_seed(1000 * (seed + 1) + n)
        imgs.append(img + 0.05 * torch.randn(img.shape, generator=gen, dtype=torch.float64))
    return torch.stack(imgs).clamp(0, 1).float()


def reinit_for_signal(net):
    for mod in net.modules():
        if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.kaiming_normal_(mod.weight, mode="fan_in", nonlinearity="relu")


def stats(t):
    t = t.detach().double()
    return {"min": t.min().item(), "max": t.max().item(), "mean": t.mean().item(),
            "std": t.std().item() if t.numel() > 1 else 0.0,
            "frac_pos": (t > 0).double().mean().item(), "frac_zero": (t == 0).double().mean().item()}


class MacCounter:
    """Conv2d / ConvTranspose2d / Linear MACs via forward hooks; the reference module's
    F.conv2d calls (only the Laplacian pyramid's depthwise convs use it) via a proxy for F."""

    class _FProxy:
        def __init__(self, owner):
            self._owner = owner

        def __getattr__(self, name):
            return getattr(F, name)

        def conv2d(self, inp, weight, *args, **kwargs):
            out = F.conv2d(inp, weight, *args, **kwargs)
            self._owner.laplacian += out.numel() * weight.shape[1] * weight.shape[2] * weight.shape[3]
            self._owner.laplacian_calls += 1
            return out

    def __init__(self, net, ref_module):
        self.total = self.laplacian = self.laplacian_calls = 0
        self.handles, self.ref = [], ref_module
        for mod in net.modules():
            if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                self.handles.append(mod.register_forward_hook(self._hook))
        ref_module.F = MacCounter._FProxy(self)

    def _hook(self, mod, inputs, output):
        if isinstance(mod, nn.Linear):
            self.total += inputs[0].numel() // mod.in_features * mod.in_features * mod.out_features
        elif isinstance(mod, nn.ConvTranspose2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            self.total += inputs[0].numel() * mod.out_channels // mod.groups * k
        else:
            k = mod.kernel_size[0] * mod.kernel_size[1]
            self.total += output.numel() * mod.in_channels // mod.groups * k

    def remove(self):
        for h in self.handles:
            h.remove()
        self.ref.F = F


def count_macs(net, ref, size, gen=None):
    """MACs of one LRM call at batch 1, size x size (data-independent)."""
    I = torch.rand(1, 3, size, size, generator=gen) if gen is not None else make_input(1, size, 0)
    z = torch.zeros(1, 64, size, size)
    counter = MacCounter(net, ref)
    try:
        net(I, I, z, z.clone())
    finally:
        counter.remove()
    if counter.laplacian_calls != 4:
        raise RuntimeError(f"expected 4 Laplacian F.conv2d calls, saw {counter.laplacian_calls}")
    return counter.total, counter.laplacian


def run_recurrence(net, I, iterations):
    b, _, s, _ = I.shape
    h = torch.zeros(b, 64, s, s)
    c = torch.zeros(b, 64, s, s)
    T_prev, out = I, {}
    for i in range(iterations):
        h, c, c_map, R, frame1, frame2, T = net(I, T_prev, h, c)
        out[f"T_hat.{i}"], out[f"R_hat.{i}"], out[f"c_map.{i}"] = T, R, c_map
        out[f"frame1.{i}"], out[f"frame2.{i}"] = frame1, frame2
        T_prev = T
    out[f"h.{iterations - 1}"], out[f"c.{iterations - 1}"] = h, c
    order = ["T_hat", "R_hat", "c_map", "frame1", "frame2"]
    keys = [f"{n}.{i}" for n in order for i in range(iterations)] + [f"h.{iterations - 1}", f"c.{iterations - 1}"]
    return {k: out[k].float().contiguous() for k in keys}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("repo_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", choices=["signal", "pytorch"], default="signal",
                    help="re-drawn kaiming_normal_(fan_in) conv/linear weights (signal) or "
                         "PyTorch defaults (pytorch); see the module docstring")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = ap.parse_args()

    repo = os.path.abspath(a.repo_dir)
    if not os.path.isfile(os.path.join(repo, MODULE + ".py")):
        sys.exit(f"lasirr_parity: {repo} has no {MODULE}.py (not a Location-aware-SIRR checkout)")
    if a.size <= 0 or a.size % 8:
        sys.exit(f"lasirr_parity: --size {a.size} must be a positive multiple of 8 (pyramid at S/8)")
    if a.batch < 1 or a.iterations < 1:
        sys.exit("lasirr_parity: --batch and --iterations must be >= 1")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    sys.dont_write_bytecode = True  # leave the checkout untouched
    sys.path.insert(0, repo)
    warnings.filterwarnings("ignore", message=".*align_corners.*")
    ref = importlib.import_module(MODULE)

    torch.manual_seed(a.seed)
    net = ref.LRM(torch.device("cpu"))
    if a.init == "signal":
        reinit_for_signal(net)
    net.eval()
    lap = net.lap_pyramid.kernel.detach()
    want = torch.tensor([[0., -1, 0], [-1, 4, -1], [0, -1, 0]]).expand(6, 1, 3, 3)
    if not torch.equal(lap, want):
        raise RuntimeError("lap_pyramid.kernel is not the 6x1x3x3 Laplacian")
    num_params = sum(p.numel() for p in net.parameters())
    num_trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    breakdown = {n: sum(p.numel() for p in m.parameters()) for n, m in net.named_children()}
    breakdown = {n: v for n, v in breakdown.items() if v}
    assert sum(breakdown.values()) == num_params

    I = make_input(a.batch, a.size, a.seed)
    I_other = make_input(a.batch, a.size, a.seed + 1)
    with torch.no_grad():
        outs = run_recurrence(net, I, a.iterations)
        outs_other = run_recurrence(net, I_other, a.iterations)
        macs, macs_lap = count_macs(net, ref, a.size)
        macs256, macs_lap256 = count_macs(net, ref, 256, torch.Generator().manual_seed(a.seed))

    S, b = a.size, a.batch
    shapes = {"T_hat": (b, 3, S, S), "R_hat": (b, 3, S, S), "c_map": (b, 1, S, S),
              "frame1": (b, 3, S // 4, S // 4), "frame2": (b, 3, S // 2, S // 2),
              "h": (b, 64, S, S), "c": (b, 64, S, S)}
    for k, v in outs.items():
        if tuple(v.shape) != shapes[k.split(".")[0]]:
            raise RuntimeError(f"output {k} has shape {tuple(v.shape)}")
        if not torch.isfinite(v).all():
            raise RuntimeError(f"output {k} has non-finite values")
    out_stats = {k: stats(v) for k, v in outs.items()}
    sens = {k: (outs[k] - outs_other[k]).abs().max().item() for k in outs}
    saturation = {}
    for k, v in outs.items():
        if k.startswith("c_map"):
            saturation[k] = ((v < 1e-4) | (v > 1 - 1e-4)).double().mean().item()
        elif k.startswith("h."):
            saturation[k] = (v.abs() > 0.999).double().mean().item()

    d = os.path.join(a.out_dir, "location_sirr")
    os.makedirs(d, exist_ok=True)
    torch.save(net.state_dict(), os.path.join(d, "state_dict.pth"))
    torch.save({"input": I}, os.path.join(d, "input.pt"))
    torch.save(outs, os.path.join(d, "outputs.pt"))
    meta = {"model": "location_sirr", "size": S, "batch": b, "iterations": a.iterations,
            "seed": a.seed, "init": a.init, "torch_version": torch.__version__,
            "num_params": num_params, "num_trainable": num_trainable,
            "param_breakdown": breakdown, "macs_per_iteration": macs, "macs_laplacian": macs_lap,
            "macs_per_iteration_256": macs256, "macs_laplacian_256": macs_lap256,
            "model_init": ("kaiming_normal_(fan_in, relu) Conv2d/ConvTranspose2d/Linear weights; "
                           "PyTorch default biases; PReLU 0.25; fixed Laplacian kernel"
                           if a.init == "signal" else "PyTorch defaults"),
            "input": stats(I), "outputs": out_stats, "input_sensitivity": sens,
            "saturation": saturation, "threads": torch.get_num_threads(), "repo_dir": repo}
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)

    print(f"location_sirr: LRM size {S} batch {b} iterations {a.iterations} seed {a.seed} "
          f"init {a.init} -> {os.path.abspath(d)}")
    print(f"  params {num_params:,} (trainable {num_trainable:,}; expected {EXPECTED_PARAMS:,})")
    print("  param_breakdown: " + ", ".join(f"{k} {v:,}" for k, v in breakdown.items()))
    print(f"  MACs per iteration (batch 1): {S}x{S} {macs:,} + laplacian {macs_lap:,}; "
          f"256x256 {macs256:,} ({macs256 / 1e9:.3f} G) + laplacian {macs_lap256:,}")
    for k, s in out_stats.items():
        extra = f" saturated {saturation[k]:.3f}" if k in saturation else ""
        print(f"  {k:9s} [{s['min']:.4g}, {s['max']:.4g}] mean {s['mean']:.4g} std {s['std']:.4g} "
              f"pos {s['frac_pos']:.3f} zero {s['frac_zero']:.3f}{extra}  sens {sens[k]:.3g}")
    warn = []
    if num_params != EXPECTED_PARAMS or num_trainable != num_params:
        warn.append(f"parameter count {num_params:,} / trainable {num_trainable:,} differs "
                    f"from the expected {EXPECTED_PARAMS:,}")
    warn += [f"{k} is {s['frac_zero']:.0%} zero (consider scaling the init)" for k, s in
             out_stats.items() if k.split(".")[0] in ("T_hat", "R_hat") and s["frac_zero"] > 0.9]
    warn += [f"{k} is {v:.0%} saturated" for k, v in saturation.items() if v > 0.5]
    warn += [f"{k} barely depends on the input (sensitivity {v:.3g} < 1e-3)"
             for k, v in sens.items() if v < 1e-3]
    for w in warn:
        print("  WARNING: " + w)


if __name__ == "__main__":
    main()
