#!/usr/bin/python3
"""Reference outputs of GCANet (with the input and output mapping of its test.py), for the C++ port's parity.

Usage:
  /usr/bin/python3 tools/gcanet_parity.py REPO_DIR OUT_DIR [--size 64] [--batch 1] [--seed 0]
      [--task dehaze|derain] [--init signal|pytorch] [--weights FILE] [--threads N]
      [--device cpu|cuda]

REPO_DIR is a checkout (or `git archive` export) of cddlyf/GCANet. Its GCANet.py (the network)
and utils.py (edge_compute) are imported from there at run time; nothing of them is copied into
this project, and no bytecode is written into the checkout. Nothing needs a stand-in (both
import only os and torch). test.py itself parses its command line and runs at import, so its
few lines that build the network's input and map the output back are re-enacted here, in its
order and with its dtypes:
  img      = np.array(PIL RGB image).astype('float')                      (H x W x 3, 0..255)
  img_data = torch.from_numpy(img.transpose((2, 0, 1))).float()
  edge     = utils.edge_compute(img_data)                                 (1 x H x W)
  in_data  = torch.cat((img_data, edge), dim=0).unsqueeze(0) - 128         (all 4 channels)
  pred     = net(in_data)
  dehaze:  out = (pred[0] + img_data).round().clamp(0, 255)    (net built with only_residual=True)
  derain:  out = pred[0].round().clamp(0, 255)                  (only_residual=False: the final
                                                                 conv is followed by a ReLU)
The image is random: uint8 values uniform in 0..255 (S x S, S a multiple of 4 and >= 4: test.py
resizes other sizes to a multiple of 4 with PIL's default filter, which is not re-enacted; the
instance norm after the stride-2 conv needs more than one pixel). The model's input is that
image / 255 (float32; (k / 255) * 255 == k exactly in float32 for every k, so the C++ side can
rebuild the 0..255 image by multiplying by 255). Several images (--batch) are each prepared as
test.py prepares one and stacked.

The network is built as test.py builds it: torch.manual_seed(seed); GCANet(in_c=4, out_c=3,
only_residual=(task == 'dehaze')); eval(). It writes OUT_DIR/gcanet/:
  state_dict.pth  the network's state_dict, the reference's names as they are (conv1.weight,
                  norm1.weight, res1.pre_conv1.weight, ..., gate.weight, deconv3.weight, ...)
  input.pt        {"input": the RGB image in [0, 1]}                      (b x 3 x S x S)
  outputs.pt      "residual"       the network's output pred (0..255 units; with --task derain
                                   it is the derained image itself, not a residual)
                  "dehazed"        the final image before test.py's round / clamp, / 255:
                                   (img_data + pred) / 255 (derain: pred / 255); not clamped
                  "dehazed_uint8"  test.py's saved image / 255 (rounded, clamped to 0..255)
                  "network_input"  in_data, the 4-channel input of the network (b x 4 x S x S)
                  "edge"           edge_compute's channel before the - 128  (b x 1 x S x S)
  meta.json       size, batch, seed, task, init, weights, device, torch version, parameter count
                  (702,818), tensors, output shapes and the statistics below
and prints the parameter count and statistics of the outputs (the range of pred and its largest
change for another input).

Weights (--init), after PyTorch's default init:
  signal  (default) re-draw what the default init leaves trivial: every ShareSepConv kernel
          (initialised to a centred delta, i.e. the identity, which would hide a wrong kernel,
          padding or channel sharing) with N(0, 1) / k (k the kernel side: 3 in res1-3, 7 in
          res4-6), and every InstanceNorm2d's affine weight with U(0.5, 1.5) and bias with
          N(0, 0.2) (initialised to 1 and 0, which would hide swapped or missing affine
          parameters). Measured at size 64, seed 0: pred in [-3.08, 1.60] (std 0.37; the
          0..255 scale, so the dehazed image moves by about 1%) and it changes by up to 3.7
          for another input.
  pytorch keep PyTorch's defaults (pred in [-2.86, 1.54], changes by up to 2.7: the instance
          norms keep the signal alive, but the two parameter kinds above stay trivial).
--weights FILE loads a released checkpoint instead (a path relative to REPO_DIR works:
models/wacv_gcanet_dehaze.pth, or models/wacv_gcanet_derain.pth with --task derain); with the
dehaze weights pred lies in about [-85, 59] on the random image.

Compare with: dmgn parity OUT_DIR --config experiments/gcanet/base.toml
"""
import argparse
import importlib
import json
import os
import sys
import warnings

EXPECTED_PARAMS = 702818


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("repo")
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--task", choices=["dehaze", "derain"], default="dehaze",
                    help="test.py's --task: only_residual = (task == 'dehaze')")
    ap.add_argument("--init", choices=["signal", "pytorch"], default="signal")
    ap.add_argument("--weights", default="", help="a released checkpoint (e.g. models/wacv_gcanet_dehaze.pth)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    a = ap.parse_args()
    if a.size < 4 or a.size % 4:
        sys.exit("gcanet_parity.py: error: --size must be a multiple of 4 (test.py resizes other sizes) and at "
                 "least 4 (the instance norm after the stride-2 conv needs more than one pixel)")
    if a.batch < 1:
        sys.exit("gcanet_parity.py: error: --batch must be at least 1")
    for f in ("GCANet.py", "utils.py", "test.py"):
        if not os.path.isfile(os.path.join(a.repo, f)):
            sys.exit(f"gcanet_parity.py: error: '{a.repo}' has no {f} (a cddlyf/GCANet checkout?)")
    weights = a.weights
    if weights and not os.path.isabs(weights) and not os.path.isfile(weights):
        weights = os.path.join(a.repo, weights)
    if weights and not os.path.isfile(weights):
        sys.exit(f"gcanet_parity.py: error: no checkpoint '{a.weights}'")
    import numpy as np
    import torch
    import torch.nn as nn
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("gcanet_parity.py: error: --device cuda but CUDA is not available")
        torch.backends.cuda.matmul.allow_tf32 = False  # plain fp32, as the C++ parity expects
        torch.backends.cudnn.allow_tf32 = False
    dev = torch.device(a.device)
    sys.dont_write_bytecode = True  # leave the checkout untouched
    sys.path.insert(0, os.path.abspath(a.repo))
    gcanet_module = importlib.import_module("GCANet")
    ref_utils = importlib.import_module("utils")
    if not hasattr(ref_utils, "edge_compute"):
        sys.exit(f"gcanet_parity.py: error: the imported utils module ({ref_utils.__file__}) has no edge_compute")

    only_residual = a.task == "dehaze"
    torch.manual_seed(a.seed)
    net = gcanet_module.GCANet(in_c=4, out_c=3, only_residual=only_residual)
    init = "weights" if weights else a.init
    if weights:
        net.load_state_dict(torch.load(weights, map_location="cpu"))
    elif a.init == "signal":
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, gcanet_module.ShareSepConv):
                    m.weight.copy_(torch.randn(m.weight.shape) / m.kernel_size)
                elif isinstance(m, nn.InstanceNorm2d):
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.normal_(0.0, 0.2)
    net.to(dev).eval()
    params = sum(p.numel() for p in net.parameters())
    if params != EXPECTED_PARAMS:
        print(f"WARNING: GCANet has {params:,} parameters, expected {EXPECTED_PARAMS:,}")

    gen = torch.Generator().manual_seed(a.seed + 1)

    def random_images():
        return torch.randint(0, 256, (a.batch, a.size, a.size, 3), generator=gen, dtype=torch.uint8).numpy()

    def prepare(images):
        """test.py's lines, image by image: (img_data b x 3 x S x S in 0..255, edge, in_data)."""
        img_datas, edges, in_datas = [], [], []
        for im in images:
            img = np.array(im).astype("float")
            img_data = torch.from_numpy(img.transpose((2, 0, 1))).float()
            edge_data = ref_utils.edge_compute(img_data)
            in_data = torch.cat((img_data, edge_data), dim=0).unsqueeze(0) - 128
            img_datas.append(img_data)
            edges.append(edge_data)
            in_datas.append(in_data)
        return torch.stack(img_datas), torch.stack(edges), torch.cat(in_datas)

    def finish(pred, img_data):
        """test.py's mapping back, before (dehazed / 255) and after (uint8 / 255) round + clamp."""
        raw = pred + img_data if only_residual else pred
        return raw / 255, raw.round().clamp(0, 255) / 255

    images, images2 = random_images(), random_images()
    img_data, edge, in_data = prepare(images)
    img_data2, _, in_data2 = prepare(images2)
    x = img_data / 255  # the model's input: the RGB image in [0, 1]
    if not torch.equal(x * 255, img_data):
        sys.exit("gcanet_parity.py: error: (image / 255) * 255 is not exact in float32")
    with torch.no_grad():
        pred = net(in_data.to(dev)).cpu().contiguous()
        pred2 = net(in_data2.to(dev)).cpu()
    dehazed, dehazed_uint8 = finish(pred, img_data)
    outputs = {"residual": pred, "dehazed": dehazed.contiguous(), "dehazed_uint8": dehazed_uint8.contiguous(),
               "network_input": in_data.contiguous(), "edge": edge.contiguous()}
    for k, v in outputs.items():
        if not torch.isfinite(v).all():
            sys.exit(f"gcanet_parity.py: error: output {k} is not finite")
    stats = {"pred_min": pred.min().item(), "pred_max": pred.max().item(), "pred_std": pred.std().item(),
             "pred_change_other_input": (pred2 - pred).abs().max().item(),
             "dehazed_min": dehazed.min().item(), "dehazed_max": dehazed.max().item(),
             "edge_min": edge.min().item(), "edge_max": edge.max().item()}

    dst = os.path.join(a.out, "gcanet")
    os.makedirs(dst, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    torch.save(state, os.path.join(dst, "state_dict.pth"))
    torch.save({"input": x.contiguous()}, os.path.join(dst, "input.pt"))
    torch.save(outputs, os.path.join(dst, "outputs.pt"))
    meta = {"size": a.size, "batch": a.batch, "seed": a.seed, "task": a.task, "only_residual": only_residual,
            "init": init, "weights": weights or None, "device": a.device, "torch_version": torch.__version__,
            "params": params, "params_expected": EXPECTED_PARAMS, "tensors_state_dict": len(state),
            "input_normalisation": "cat(image 0..255, edge_compute(image)) - 128 (all 4 channels)",
            "stats": stats, "shapes": {k: list(v.shape) for k, v in outputs.items()}}
    with open(os.path.join(dst, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"GCANet(in_c=4, out_c=3, only_residual={only_residual}): {params:,} parameters, {len(state)} tensors in "
          f"state_dict.pth (init {init}{': ' + weights if weights else ''})")
    print(f"network_input {tuple(in_data.shape)} in [{in_data.min():.1f}, {in_data.max():.1f}] "
          f"(edge channel before - 128 in [{stats['edge_min']:.2f}, {stats['edge_max']:.2f}])")
    print(f"residual (pred) {tuple(pred.shape)} in [{stats['pred_min']:.4f}, {stats['pred_max']:.4f}], std "
          f"{stats['pred_std']:.4f}; largest change for another input {stats['pred_change_other_input']:.3e}")
    print(f"dehazed in [{stats['dehazed_min']:.4f}, {stats['dehazed_max']:.4f}] (unclamped; dehazed_uint8 as test.py saves)")
    if stats["pred_change_other_input"] < 1e-3:
        print("WARNING: pred hardly depends on the input; a parity test here would see few bugs")
    print(f"wrote {dst}")


if __name__ == "__main__":
    main()
