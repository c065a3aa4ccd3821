#!/usr/bin/python3
"""Reference outputs of PReNet's networks (PReNet, PReNet_r, PRN, PRN_r), for the C++ port's parity.

Usage:
  /usr/bin/python3 tools/prenet_parity.py REPO_DIR OUT_DIR [--variant PReNet|PReNet_r|PRN|PRN_r]
      [--recurrent-iter 6] [--size 64] [--batch 1] [--seed 0] [--weights FILE]
      [--threads N] [--device cpu|cuda]

REPO_DIR is a checkout (or `git archive` export) of csdwren/PReNet. Its networks.py is imported
from there at run time; nothing of it is copied into this project. networks.py imports cv2 and
torchvision at module level without using them in any network; whichever of the two cannot be
imported is replaced by an empty stub module (listed in meta.json). No bytecode is written into
the checkout.

The network is built as the reference's train_*.py / test_*.py build it: torch.manual_seed(seed);
networks.<variant>(recurrent_iter, use_GPU) with PyTorch's default layer init (the reference
applies no init of its own), eval(). use_GPU is False on the CPU (the zero LSTM state h, c is
then created on the CPU) and True with --device cuda. The ablation classes of networks.py
(PReNet_LSTM, PReNet_GRU, PReNet_x: no "x + input" at the end of a stage) are accepted as
--variant too. The input x (batch x 3 x S x S, uniform in [0, 1] as the test scripts' image / 255;
any S >= 1, no downsampling) goes through the reference's forward, which returns (x, x_list).
It writes OUT_DIR/prenet/:
  state_dict.pth  the network's state_dict, the reference's names as they are (conv0.0.weight,
                  res_conv1.0.weight, conv_i.0.weight, ..., conv.0.bias)
  input.pt        {"input": x}
  outputs.pt      "x" = the final output (the last stage; the test scripts then clamp it to
                  [0, 1], which is not applied here), "x_list.<i>" = stage i's output
                  (i = 0 .. recurrent_iter - 1; x_list.<last> equals x)
  meta.json       variant, recurrent_iter, size, batch, seed, init, weights, device, torch
                  version, stubbed modules, parameter counts (PReNet 168,963; PReNet_r 94,979;
                  PRN 95,107; PRN_r 21,123), tensors, output shapes and the statistics below
and prints the parameter count the reference's utils.print_network would report (computed the
same way, without importing utils.py, which needs skimage.measure.compare_psnr), and statistics
of the outputs: the range of the network's branch (output - input for the four residual
variants: a parity test on a branch that hardly depends on its input proves little) and its
largest change for another input.

Weights: PyTorch's defaults are kept (no re-draw is needed). Measured at size 64, seed 0, 6
stages: PReNet's branch x - input lies in [0.005, 0.156] (std 0.032) and changes by up to
5.7e-2 for another input; stage 1 differs from the final output by up to 2.7e-2 (PReNet_r:
branch [-0.193, 0.092], change 6.7e-2; PRN: [-0.356, 0.432], 0.40; PRN_r: [-0.587, 0.358],
0.57). Re-drawing the convs with kaiming_normal_(fan_in) instead makes the outputs explode
(PReNet +-6, PRN +-1e6: the five residual blocks add up), so it is not offered. --weights FILE
loads one of the released checkpoints instead (a path relative to REPO_DIR works, e.g.
logs/Rain100H/PReNet6/net_latest.pth, logs/Rain100L/PRN6_r/net_latest.pth; they were saved
on a GPU and are loaded with map_location="cpu").

Compare with: dmgn parity OUT_DIR --config experiments/prenet/base.toml
"""
import argparse
import importlib
import json
import os
import sys
import types
import warnings

EXPECTED = {"PReNet": 168963, "PReNet_r": 94979, "PRN": 95107, "PRN_r": 21123,
            "PReNet_LSTM": 168963, "PReNet_GRU": 150499, "PReNet_x": 168099}
MAIN_VARIANTS = ["PReNet", "PReNet_r", "PRN", "PRN_r"]
RESIDUAL = {"PReNet", "PReNet_r", "PRN", "PRN_r"}  # stages end with "x = x + input" / "input + x"
# networks.py imports these at module level; no network uses them.
OPTIONAL_MODULES = ["cv2", "torchvision"]


def stub_missing_modules():
    """Import each of OPTIONAL_MODULES; replace those that fail by empty stub modules."""
    stubbed = []
    for name in OPTIONAL_MODULES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importlib.import_module(name)
            continue
        except Exception:  # ImportError, or e.g. a torchvision built for another torch
            pass
        mod = types.ModuleType(name)
        mod.__path__ = []
        sys.modules[name] = mod
        stubbed.append(name)
    return stubbed


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("repo")
    ap.add_argument("out")
    ap.add_argument("--variant", choices=list(EXPECTED), default="PReNet",
                    help="class of networks.py (PReNet_LSTM, PReNet_GRU, PReNet_x: ablations)")
    ap.add_argument("--recurrent-iter", type=int, default=6, help="stages T (the reference's recurrent_iter)")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", default="", help="a released checkpoint (e.g. logs/Rain100H/PReNet6/net_latest.pth)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    a = ap.parse_args()
    if a.size < 1 or a.batch < 1 or a.recurrent_iter < 1:
        sys.exit("prenet_parity.py: error: --size, --batch and --recurrent-iter must be at least 1")
    if not os.path.isfile(os.path.join(a.repo, "networks.py")) or not os.path.isfile(os.path.join(a.repo, "SSIM.py")):
        sys.exit(f"prenet_parity.py: error: '{a.repo}' has no networks.py / SSIM.py (a csdwren/PReNet checkout?)")
    weights = a.weights
    if weights and not os.path.isabs(weights) and not os.path.isfile(weights):
        weights = os.path.join(a.repo, weights)
    if weights and not os.path.isfile(weights):
        sys.exit(f"prenet_parity.py: error: no checkpoint '{a.weights}'")
    import torch
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("prenet_parity.py: error: --device cuda but CUDA is not available")
        torch.backends.cuda.matmul.allow_tf32 = False  # plain fp32, as the C++ parity expects
        torch.backends.cudnn.allow_tf32 = False
    dev = torch.device(a.device)
    stubbed = stub_missing_modules()
    sys.dont_write_bytecode = True  # leave the checkout untouched
    sys.path.insert(0, os.path.abspath(a.repo))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        networks = importlib.import_module("networks")
    if not hasattr(networks, a.variant):
        sys.exit(f"prenet_parity.py: error: networks.py has no class {a.variant}")

    torch.manual_seed(a.seed)
    net = getattr(networks, a.variant)(recurrent_iter=a.recurrent_iter, use_GPU=a.device == "cuda")
    if weights:
        state = torch.load(weights, map_location="cpu")
        missing, unexpected = net.load_state_dict(state, strict=False)
        if missing or unexpected:
            sys.exit(f"prenet_parity.py: error: '{weights}' does not fit {a.variant}: missing {missing}, "
                     f"unexpected {unexpected}")
    net.to(dev).eval()
    params = sum(p.numel() for p in net.parameters())
    if params != EXPECTED[a.variant]:
        print(f"WARNING: {a.variant} has {params:,} parameters, expected {EXPECTED[a.variant]:,}")

    gen = torch.Generator().manual_seed(a.seed + 1)
    x = torch.rand(a.batch, 3, a.size, a.size, generator=gen)
    x2 = torch.rand(a.batch, 3, a.size, a.size, generator=gen)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, stages = net(x.to(dev))
        out2, _ = net(x2.to(dev))
    out, out2 = out.cpu().contiguous(), out2.cpu()
    stages = [s.cpu().contiguous() for s in stages]
    if len(stages) != a.recurrent_iter:
        sys.exit(f"prenet_parity.py: error: x_list has {len(stages)} items, expected {a.recurrent_iter}")
    outputs = {"x": out}
    for i, s in enumerate(stages):
        outputs[f"x_list.{i}"] = s
    for k, v in outputs.items():
        if not torch.isfinite(v).all():
            sys.exit(f"prenet_parity.py: error: output {k} is not finite")

    residual = a.variant in RESIDUAL
    branch = out - x if residual else out
    branch2 = out2 - x2 if residual else out2
    stats = {"branch": "x - input" if residual else "x",
             "branch_min": branch.min().item(), "branch_max": branch.max().item(),
             "branch_std": branch.std().item(),
             "branch_change_other_input": (branch2 - branch).abs().max().item(),
             "first_vs_last_stage": (stages[0] - out).abs().max().item(),
             "x_min": out.min().item(), "x_max": out.max().item()}

    dst = os.path.join(a.out, "prenet")
    os.makedirs(dst, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    torch.save(state, os.path.join(dst, "state_dict.pth"))
    torch.save({"input": x}, os.path.join(dst, "input.pt"))
    torch.save(outputs, os.path.join(dst, "outputs.pt"))
    meta = {"variant": a.variant, "recurrent_iter": a.recurrent_iter, "size": a.size, "batch": a.batch,
            "seed": a.seed, "init": "weights" if weights else "pytorch", "weights": weights or None,
            "device": a.device, "torch_version": torch.__version__, "stubbed_modules": stubbed,
            "params": params, "params_expected": EXPECTED[a.variant], "tensors_state_dict": len(state),
            "global_residual": residual, "stats": stats,
            "shapes": {k: list(v.shape) for k, v in outputs.items()}}
    with open(os.path.join(dst, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"reference print_network({a.variant}): Total number of parameters: {params}")
    print(f"{a.variant}, {a.recurrent_iter} stages: {params:,} parameters, {len(state)} tensors in state_dict.pth"
          + (f" (from {weights})" if weights else " (PyTorch's default init)")
          + (f"; stubbed: {', '.join(stubbed)}" if stubbed else ""))
    print(f"outputs: x {tuple(out.shape)} in [{stats['x_min']:.4f}, {stats['x_max']:.4f}], "
          f"x_list.0 .. x_list.{a.recurrent_iter - 1}")
    print(f"branch ({stats['branch']}) in [{stats['branch_min']:.4f}, {stats['branch_max']:.4f}], std "
          f"{stats['branch_std']:.4f}; largest change for another input {stats['branch_change_other_input']:.3e}; "
          f"stage 1 vs final {stats['first_vs_last_stage']:.3e}")
    if stats["branch_change_other_input"] < 1e-3:
        print("WARNING: the branch hardly depends on the input; a parity test here would see few bugs")
    print(f"wrote {dst}")


if __name__ == "__main__":
    main()
