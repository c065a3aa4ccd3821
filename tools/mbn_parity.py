#!/usr/bin/python3
"""Reference outputs of MBN's network EnDNet (all four tasks and the R-MBN chain), for the C++ port's parity.

Usage:
  /usr/bin/python3 tools/mbn_parity.py REPO_DIR OUT_DIR [--size 64] [--batch 1] [--seed 0]
      [--threads N] [--rain-iter 4] [--device cpu|cuda]

REPO_DIR is a checkout of 6272code/6272-code (the released test code); its pietorch/M_DuRN.py is
imported from there at run time (nothing of it is copied into this project). The reference's
modules import cv2, torchvision, skimage, matplotlib, PIL and visdom at module level without using
them in EnDNet; whichever of these cannot be imported is replaced by an empty stub module (listed
in meta.json). The rain branch builds its zero LSTM state with .cuda(): when running on the CPU,
torch.Tensor.cuda is patched to return the tensor itself for the duration of the forward passes.

The script does torch.manual_seed(seed), EnDNet(img_dim=3, rain_iter=R) (PyTorch's default
init), eval(), and feeds x (batch x 3 x S x S, uniform in [0, 1], S a multiple of 16)
with the pyramid our C++ model computes (S >= 64 because at S = 48 the coarse scale's DuRB6
reflection-pads 6 pixels on a 6 x 6 map, which PyTorch rejects):
  mid    = interpolate(x,   size=S/2, bicubic, align_corners=False)
  coarse = interpolate(mid, size=S/4, bicubic, align_corners=False)
Under no_grad it runs net(coarse, mid, x, task) for each task and then the R-MBN chain of the
reference's test_RMBN.py (tasks jpeg, haze, blur, rain; after each stage its fine output is
clamped to [0, 1] and the pyramid rebuilt as ProcessResult does: M = interpolate(F, scale_factor
0.5, bicubic), C = interpolate(M, scale_factor 0.5, bicubic)). It writes OUT_DIR/mbn/:
  state_dict.pth  EnDNet's state_dict without the ".down_atten." keys (the reference registers
                  each DuRB's down_se / down_seconv twice, also as down_atten.0 / .1; our port
                  registers them once)
  input.pt        {"input": x}
  outputs.pt      "rain.out.0", "haze.out.0"             (b x 3 x S x S)
                  "blur.out.0|1|2", "jpeg.out.0|1|2"     coarse (S/4), mid (S/2), fine (S)
                  "chain.stage.0..3"                     each stage's fine output, unclamped
                  "chain.out"                            = chain.stage.3
  meta.json       size, batch, seed, rain_iter, device, torch version, stubbed modules,
                  parameter counts (total, deduplicated: 11,254,072; input branches
                  rain/blur/jpeg/haze_head 2,354,144; stem DuRB1..5 3,937,440; output branches
                  dec_1..4 + DuRB6..8 4,962,488) and the output shapes
Compare with: dmgn parity OUT_DIR --config <the MBN experiment's config>
"""
import argparse
import importlib
import json
import os
import sys
import time
import types
import warnings

TASKS = ["rain", "blur", "jpeg", "haze"]
CHAIN = ["jpeg", "haze", "blur", "rain"]  # test_RMBN.py's tasks_list
EXPECTED = {"total": 11254072, "input_branches": 2354144, "stem": 3937440, "output_branches": 4962488}
INPUT_BRANCHES = ["rain_head", "blur_head", "jpeg_head", "haze_head"]
STEM = ["DuRB1", "DuRB2", "DuRB3", "DuRB4", "DuRB5"]
OUTPUT_BRANCHES = ["dec_1", "dec_2", "dec_3", "dec_4", "DuRB6", "DuRB7", "DuRB8"]
# Modules the reference imports at module level (pietorch/{N_modules,utils,DuRBs,M_DuRN}.py) but
# EnDNet never calls; parents before children.
OPTIONAL_MODULES = ["cv2", "torchvision", "torchvision.transforms", "skimage", "matplotlib",
                    "matplotlib.pyplot", "PIL", "PIL.Image", "visdom"]


def stub_missing_modules():
    """Import each of OPTIONAL_MODULES; replace those that fail by empty stub modules."""
    os.environ.setdefault("MPLBACKEND", "Agg")
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
        mod.__path__ = []  # lets "import name.sub" find a stubbed child in sys.modules
        if name == "PIL.Image":
            mod.Image = type("Image", (), {})  # N_modules: isinstance(x, Image.Image)
        elif name == "visdom":
            mod.Visdom = type("Visdom", (), {})  # utils: from visdom import Visdom
        sys.modules[name] = mod
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, mod)
        stubbed.append(name)
    return stubbed


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("repo")
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--rain-iter", type=int, default=4)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    a = ap.parse_args()
    if a.size % 16 or a.size < 64:
        # 48 is too small for the reference itself: at the coarse scale (S/4) the DuRBs work at
        # S/8 = 6, and DuRB6's reflection-padded up_conv (k 7, dilation 2) pads by 6.
        sys.exit("mbn_parity.py: error: --size must be a multiple of 16 and at least 64")
    if a.batch < 1:
        sys.exit("mbn_parity.py: error: --batch must be at least 1")
    if a.rain_iter < 1:
        sys.exit("mbn_parity.py: error: --rain-iter must be at least 1")
    if not os.path.isfile(os.path.join(a.repo, "pietorch", "M_DuRN.py")):
        sys.exit(f"mbn_parity.py: error: '{a.repo}' has no pietorch/M_DuRN.py (a 6272code/6272-code checkout?)")
    import torch
    import torch.nn.functional as F
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("mbn_parity.py: error: --device cuda but CUDA is not available")
        torch.backends.cuda.matmul.allow_tf32 = False  # plain fp32, as the C++ parity expects
        torch.backends.cudnn.allow_tf32 = False
    dev = torch.device(a.device)
    stubbed = stub_missing_modules()
    sys.path.insert(0, os.path.abspath(a.repo))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pietorch.M_DuRN import EnDNet
    except Exception as e:
        sys.exit(f"mbn_parity.py: error: importing pietorch.M_DuRN from '{a.repo}' failed: {e!r}")

    torch.manual_seed(a.seed)
    net = EnDNet(img_dim=3, rain_iter=a.rain_iter)
    net.eval()
    count = lambda m: sum(p.numel() for p in m.parameters())
    counts = {"total": count(net),
              "input_branches": sum(count(getattr(net, n)) for n in INPUT_BRANCHES),
              "stem": sum(count(getattr(net, n)) for n in STEM),
              "output_branches": sum(count(getattr(net, n)) for n in OUTPUT_BRANCHES)}
    net.to(dev)

    S = a.size
    gen = torch.Generator().manual_seed(a.seed + 1)
    x = torch.rand(a.batch, 3, S, S, generator=gen)
    xd = x.to(dev)
    mid = F.interpolate(xd, size=(S // 2, S // 2), mode="bicubic", align_corners=False)
    coarse = F.interpolate(mid, size=(S // 4, S // 4), mode="bicubic", align_corners=False)

    outputs = {}
    cuda_orig = torch.Tensor.cuda
    if dev.type == "cpu":
        torch.Tensor.cuda = lambda self, *args, **kwargs: self  # the rain branch's zero LSTM state
    t0 = time.time()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # bicubic interpolate without align_corners
            for task in TASKS:
                r = net(coarse, mid, xd, task)
                if not isinstance(r, (tuple, list)):
                    r = (r,)
                for i, t in enumerate(r):
                    outputs[f"{task}.out.{i}"] = t
            C, M, Fi = coarse, mid, xd
            for i, task in enumerate(CHAIN):
                r = net(C, M, Fi, task)
                f = r[2] if task in ("blur", "jpeg") else r
                outputs[f"chain.stage.{i}"] = f.clone()
                # test_RMBN.py ProcessResult: clamp to [0, 1], rebuild the pyramid by scale_factor 0.5
                Fi = f.clamp(0, 1)
                M = F.interpolate(Fi, scale_factor=0.5, mode="bicubic")
                C = F.interpolate(M, scale_factor=0.5, mode="bicubic")
            outputs["chain.out"] = outputs[f"chain.stage.{len(CHAIN) - 1}"].clone()
    finally:
        torch.Tensor.cuda = cuda_orig
    elapsed = time.time() - t0
    outputs = {k: v.detach().cpu().contiguous() for k, v in outputs.items()}
    for k, v in outputs.items():
        if not torch.isfinite(v).all():
            sys.exit(f"mbn_parity.py: error: output {k} is not finite")

    out = os.path.join(a.out, "mbn")
    os.makedirs(out, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in net.state_dict().items() if ".down_atten." not in k}
    torch.save(state, os.path.join(out, "state_dict.pth"))
    torch.save({"input": x}, os.path.join(out, "input.pt"))
    torch.save(outputs, os.path.join(out, "outputs.pt"))
    meta = {"size": S, "batch": a.batch, "seed": a.seed, "rain_iter": a.rain_iter, "device": a.device,
            "torch_version": torch.__version__, "stubbed_modules": stubbed,
            "params": counts["total"], "params_input_branches": counts["input_branches"],
            "params_stem": counts["stem"], "params_output_branches": counts["output_branches"],
            "state_dict_keys": len(state), "shapes": {k: list(v.shape) for k, v in outputs.items()}}
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"EnDNet {counts['total']:,} parameters (input branches {counts['input_branches']:,}, "
          f"stem {counts['stem']:,}, output branches {counts['output_branches']:,}); "
          f"{len(state)} state_dict tensors; stubbed: {', '.join(stubbed) or 'none'}")
    for k, want in EXPECTED.items():
        if counts[k] != want:
            print(f"WARNING: {k} parameter count {counts[k]:,} differs from the expected {want:,}")
    print(f"forwards {elapsed:.1f} s on {a.device}; outputs "
          + ", ".join(f"{k} {tuple(v.shape)} in [{v.min():.3f}, {v.max():.3f}]" for k, v in outputs.items()))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
