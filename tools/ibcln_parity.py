#!/usr/bin/python3
"""Reference outputs of IBCLN's networks (G_T, G_R = Generator_drop, and its PatchGAN D), for the C++ port's parity.

Usage:
  /usr/bin/python3 tools/ibcln_parity.py REPO_DIR OUT_DIR [--size 64] [--batch 1] [--seed 0]
      [--init signal|reference] [--threads N]

REPO_DIR is a checkout (or `git archive` export) of JHL-HUST/IBCLN. Its models package is
imported from there at run time; nothing of it is copied into this project. What the machine
lacks is replaced by stand-ins inserted in sys.modules before the import:
  torchvision      models/vgg.py builds Vgg19 from `torchvision.models.vgg19(pretrained=True)
                   .features` (the perceptual loss's network; IBCLNModel builds it even at test
                   time, its forward never uses it): a stand-in whose `.features` is torchvision's
                   layer list (cfg "E": 16 3x3 convs padding 1, ReLU, 2x2 max pools) with
                   torchvision's init (kaiming_normal_ fan_out relu, zero bias) drawn from the
                   seed: random weights, no download. `torchvision.transforms` is only imported by
                   models/IBCLN_model.py (an empty module).
  cv2              imported by models/networks.py for syn_data_Fan, which IBCLN never calls (an
                   empty module). numpy, scipy (networks.py builds its vignetting mask with
                   scipy.stats at import) and scikit-image (imported, unused) are the real ones.
The networks are built by the reference's own IBCLNModel(opt) with the options of its test.sh
(isTrain False, CPU): torch.manual_seed(seed); Vgg19 stand-in; netG_T = define_G(9, 3, 64,
'gen_drop', ...) and netG_R = define_G(9, 3, 64, 'gen_drop', ...) = Generator_drop(9, 3, 64)
with init_weights 'normal' (N(0, 0.02) conv weights, zero biases); netD = define_D(3, 64,
'basic', norm 'instance') = NLayerDiscriminator(3, 64, n_layers=3, InstanceNorm2d(affine=False,
track_running_stats=False)) with the same init. All in eval mode: conv9's Dropout(0.3) is off
(the reference's test.sh runs without --eval, so its own results keep it on and are random).
The input I (batch x 3 x S x S, uniform in [0, 1]: the reference feeds ToTensor images, no
normalisation; S a multiple of 4 and >= 24, the generator needs a multiple of 4 and >= 4, D's
third InstanceNorm needs S >= 24) goes through IBCLNModel.forward itself: T_0 = I, R_0 = 0.1,
LSTM states zero (batch x 256 x S/4 x S/4), three iterations of T_k, h, c = G_T(cat(I, T_k-1,
R_k-1), h_T, c_T); R_k, ... = G_R(cat(I, T_k, R_k-1), h_R, c_R); then (test mode) every list
entry clamped to [0, 1]. It writes OUT_DIR/ibcln/:
  state_dict.pth                G_T's state_dict prefixed "net_G_T." and G_R's prefixed "net_G_R."
                                (the reference saves each network alone, unprefixed, as
                                <epoch>_net_G_T.pth / <epoch>_net_G_R.pth, e.g. the released
                                final_net_G_T.pth: the prefix is that file name's stem)
  discriminator_state_dict.pth  D's state_dict with its Sequential "model." renamed "body." (our
                                PatchGan's name for the same layer list, as tools/pgan_parity.py)
  input.pt                      {"input": I}
  outputs.pt                    "fake_Ts.<k>", "fake_Rs.<k>", k = 0..3: the reference's lists after
                                forward (test mode: clamped to [0, 1]); index 0 is the initial
                                estimate (I and the constant 0.1), 1..3 the iterations;
                                "fake_T", "fake_R": the last iteration's T and R before the clamp;
                                "fake_T2", "fake_T4", "fake_R2", "fake_R4": its side outputs at
                                S/2 and S/4 (not clamped); "t_h", "t_c", "r_h", "r_c": the LSTM
                                states after the last iteration;
                                "T_iter.<k>", "R_iter.<k>", k = 0..2: T_{k+1} and R_{k+1} as the
                                loop makes them (not clamped; the model's training outputs);
                                "fake_B" = fake_Ts.3 (the final T, what test.py saves),
                                "D" = D(I), "D_fake" = D(fake_B)
  meta.json                     sizes, seed, init, torch version, parameter counts, MACs, shapes
and prints the parameter counts the reference's BaseModel.print_networks reports, statistics of
the outputs (the fraction of exact zeros of the final ReLU and of ones from the clamp, the change
of each output for another input, and the change of the final T when G_T and G_R get zero LSTM
states at every call instead of the carried ones: a parity test on a path that hardly changes
the output proves little about that path).

Weights (--init), after the reference's own init above:
  signal     (default) re-draw every Conv2d / ConvTranspose2d weight of G_T and G_R with
             kaiming_normal_(fan_in, relu) and every bias of G_T, G_R and D uniform in
             +-1/sqrt(fan_in) (PyTorch's default bound); D's weights keep N(0, 0.02). The three
             image heads of each generator (output, outframe1, outframe2: conv + ReLU) then get
             their weights scaled by 0.25 and their biases set to 0.5: with kaiming weights alone
             whole output channels sit below zero for many seeds (seed 0: fake_B 87.6% exact
             zeros, 98% in its green channel; seeds 1-3: 35-50%), and the final ReLU and the
             test-time clamp hide them. Measured at size 64, seed 0: fake_B in [0, 0.752], 9.8%
             exact zeros, none clamped at 1; it changes by up to 0.28 for another input (fake_Rs.3
             0.32, fake_T2 0.25, fake_T4 7.9e-3, D 3.1) and by up to 2.5e-3 when every call gets
             zero LSTM states instead of the carried ones (5.5e-3 at size 128).
  reference  keep the reference's init: fake_B in [0, 0.031] (33% zeros) and it changes by
             2.2e-2 for another input, but only through the encoder's skip connections: the
             LSTM's h stays below 1.1e-4, the carried states change fake_B by 5.5e-8, and every
             bias is zero, so a parity test would miss bugs in the bottleneck, the LSTM and the
             bias import (the script prints a WARNING).
The saved state_dicts are what the outputs came from either way (the C++ side needs no
knowledge of the init). At S = 64 the bottleneck is 16 x 16, so diconv4's (dilation 16) taps
other than the centre only see zero padding; S >= 128 exercises them.
Run time on this 2-core machine, --threads 1: 3.5 s at S = 64, 6.6 s at S = 128.

Compare with: dmgn parity OUT_DIR --config experiments/ibcln/base.toml
"""
import argparse
import contextlib
import importlib.util
import io
import json
import os
import sys
import time
import types
import warnings


HEAD_GAIN = 0.25  # --init signal: the image heads' kaiming weights scaled by this ...
HEAD_BIAS = 0.5   # ... and their biases set to this (see the module docstring)


def install_stand_ins(torch, nn, notes):
    """torchvision and cv2 stand-ins (see the module docstring)."""
    cfg19 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
             512, 512, 512, 512, "M"]

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
        def __init__(self):
            super().__init__()
            self.features = features(cfg19)

    def vgg19(pretrained=False, **kwargs):
        notes.append(f"torchvision.models.vgg19(pretrained={pretrained}): stand-in, random weights (unused by forward)")
        return StandInVgg()

    tv = types.ModuleType("torchvision")
    tv_models = types.ModuleType("torchvision.models")
    tv_transforms = types.ModuleType("torchvision.transforms")
    tv_models.vgg19 = vgg19
    tv.models = tv_models
    tv.transforms = tv_transforms
    sys.modules.update({"torchvision": tv, "torchvision.models": tv_models,
                        "torchvision.transforms": tv_transforms})
    if importlib.util.find_spec("cv2") is None:  # the real one where installed
        sys.modules["cv2"] = types.ModuleType("cv2")
        notes.append("cv2: empty stand-in (only syn_data_Fan uses it)")


def reference_options(batch):
    """The options IBCLNModel reads, as test.sh sets them (BaseOptions / TestOptions defaults)."""
    return types.SimpleNamespace(
        isTrain=False, gpu_ids=[], checkpoints_dir="./checkpoints", name="IBCLN", preprocess="",
        input_nc=3, output_nc=3, ngf=64, ndf=64, netG="gen_drop", netD="basic", n_layers_D=3,
        norm="instance", no_dropout=False, init_type="normal", init_gain=0.02, batch_size=batch,
        blurKernel=5, verbose=False)


class MacCounter:
    """Conv / linear multiply-accumulates per call: Conv2d out elements * in/groups * kh * kw;
    ConvTranspose2d in elements * out/groups * kh * kw (each input element meets every weight of its
    group once). Bias additions, activations, the LSTM's element-wise products, pads and pools are
    not counted."""

    def __init__(self, torch, nets):
        self.total = 0
        self.calls = 0
        self.handles = []
        nn = torch.nn
        for net in nets:
            self.handles.append(net.register_forward_hook(self._call))
            for m in net.modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                    self.handles.append(m.register_forward_hook(self._hook))

    def _call(self, m, i, o):
        self.calls += 1

    def _hook(self, m, i, o):
        import torch.nn as nn
        if isinstance(m, nn.ConvTranspose2d):
            self.total += i[0].numel() * (m.out_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Conv2d):
            self.total += o.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        else:
            self.total += o.numel() * m.in_features

    def remove(self):
        for h in self.handles:
            h.remove()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("repo")
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", choices=["signal", "reference"], default="signal")
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.size % 4 or a.size < 24:
        sys.exit("ibcln_parity.py: error: --size must be a multiple of 4 (two stride-2 convs, skips added "
                 "after 2x transposed convs) and at least 24 (D's third InstanceNorm needs 2 x 2)")
    for f in ("models/networks.py", "models/IBCLN_model.py", "models/base_model.py", "models/vgg.py"):
        if not os.path.isfile(os.path.join(a.repo, f)):
            sys.exit(f"ibcln_parity.py: error: '{a.repo}' has no {f} (a JHL-HUST/IBCLN checkout?)")
    started = time.time()
    import torch
    import torch.nn as nn
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    notes = []
    sys.path.insert(0, a.repo)
    install_stand_ins(torch, nn, notes)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        from models.IBCLN_model import IBCLNModel

    torch.manual_seed(a.seed)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        model = IBCLNModel(reference_options(a.batch))
    g_t, g_r, d = model.netG_T, model.netG_R, model.netD
    if a.init == "signal":
        torch.set_grad_enabled(False)
        for net in (g_t, g_r, d):
            for m in net.modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                    if net is not d:
                        nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                    fan_in = nn.init._calculate_fan_in_and_fan_out(m.weight)[0]
                    nn.init.uniform_(m.bias, -fan_in ** -0.5, fan_in ** -0.5)
            if net is not d:  # the ReLU image heads (see the module docstring)
                for head in (net.output[0], net.outframe1[0], net.outframe2[0]):
                    head.weight.mul_(HEAD_GAIN)
                    head.bias.fill_(HEAD_BIAS)
    torch.set_grad_enabled(True)
    for net in (g_t, g_r, d):
        net.eval()

    # The reference's own parameter counts (BaseModel.print_networks, in millions).
    model.model_names = ["G_T", "G_R", "D"]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        model.print_networks(False)
    printed = [line for line in buf.getvalue().splitlines() if line.startswith("[Network")]

    def forward(x):
        """IBCLNModel.forward (test mode); returns what the reference holds afterwards."""
        model.real_I = x
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.tensor(real_I) in init(): copy-construct warning
            model.forward()
        out = {}
        for name in ("fake_Ts", "fake_Rs"):
            for k, t in enumerate(getattr(model, name)):
                out[f"{name}.{k}"] = t
        for name in ("fake_T", "fake_R", "fake_T2", "fake_T4", "fake_R2", "fake_R4", "t_h", "t_c", "r_h", "r_c"):
            out[name] = getattr(model, name)
        out["fake_B"] = model.fake_Ts[-1]
        return {k: v.detach().clone().contiguous() for k, v in out.items()}

    gen = torch.Generator().manual_seed(a.seed + 1)
    x = torch.rand(a.batch, 3, a.size, a.size, generator=gen)
    x2 = torch.rand(a.batch, 3, a.size, a.size, generator=gen)
    with torch.no_grad():
        macs = MacCounter(torch, [g_t, g_r])
        outputs = forward(x)
        macs.remove()
        # The iterations' estimates as the loop makes them, before the test-mode clamp (isTrain
        # skips it; the networks stay in eval mode): "T_iter.<k>", "R_iter.<k>" = T_{k+1}, R_{k+1}.
        model.real_I = x
        model.isTrain = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.forward()
        for k in range(1, len(model.fake_Ts)):
            outputs[f"T_iter.{k - 1}"] = model.fake_Ts[k].detach().clone().contiguous()
            outputs[f"R_iter.{k - 1}"] = model.fake_Rs[k].detach().clone().contiguous()
        model.isTrain = False
        outputs["D"] = d(x).contiguous()
        outputs["D_fake"] = d(outputs["fake_B"]).contiguous()
        other = forward(x2)
        sensitivity = {k: (other[k] - outputs[k]).abs().max().item()
                       for k in ("fake_B", "fake_Rs.3", "fake_T2", "fake_T4")}
        sensitivity["D"] = (d(x2) - outputs["D"]).abs().max().item()

        class ZeroState(nn.Module):  # the same generator, but zero LSTM states at every call
            def __init__(self, net):
                super().__init__()
                self.net = net

            def forward(self, inp, h, c):
                return self.net(inp, torch.zeros_like(h), torch.zeros_like(c))

        model.netG_T, model.netG_R = ZeroState(g_t), ZeroState(g_r)
        stateless = forward(x)
        model.netG_T, model.netG_R = g_t, g_r
        state_effect = (stateless["fake_B"] - outputs["fake_B"]).abs().max().item()
    for k, v in outputs.items():
        if not torch.isfinite(v).all():
            sys.exit(f"ibcln_parity.py: error: output {k} is not finite")
    if macs.calls != 6:
        sys.exit(f"ibcln_parity.py: error: expected 6 generator calls (3 iterations x G_T, G_R), saw {macs.calls}")

    dst = os.path.join(a.out, "ibcln")
    os.makedirs(dst, exist_ok=True)
    state = {}
    for prefix, net in (("net_G_T.", g_t), ("net_G_R.", g_r)):
        for k, v in net.state_dict().items():
            state[prefix + k] = v
    dstate = {("body." + k[len("model."):] if k.startswith("model.") else k): v for k, v in d.state_dict().items()}
    torch.save(state, os.path.join(dst, "state_dict.pth"))
    torch.save(dstate, os.path.join(dst, "discriminator_state_dict.pth"))
    torch.save({"input": x}, os.path.join(dst, "input.pt"))
    torch.save(outputs, os.path.join(dst, "outputs.pt"))

    count = lambda m: sum(p.numel() for p in m.parameters())
    fake_b = outputs["fake_B"]
    zero_fraction = (fake_b == 0).float().mean().item()
    one_fraction = (fake_b == 1).float().mean().item()
    per_pass = macs.total // 6
    scale = (256 * 256) / (a.size * a.size)
    meta = {"size": a.size, "batch": a.batch, "seed": a.seed, "init": a.init, "iterations": 3,
            "torch_version": torch.__version__, "repo": os.path.abspath(a.repo),
            "params_g_t": count(g_t), "params_g_r": count(g_r), "params_generators": count(g_t) + count(g_r),
            "params_d": count(d), "params_vgg_unused": count(model.vgg),
            "tensors_state_dict": len(state), "tensors_discriminator": len(dstate),
            "state_dict_prefixes": {"net_G_T.": "G_T (reference file <epoch>_net_G_T.pth)",
                                    "net_G_R.": "G_R (reference file <epoch>_net_G_R.pth)"},
            "discriminator_renamed": "model.<i> -> body.<i>",
            "macs_convention": MacCounter.__doc__.replace("\n   ", "").strip(),
            "macs_generator_pass": per_pass, "macs_inference": macs.total,
            "macs_generator_pass_256": int(per_pass * scale), "macs_inference_256": int(macs.total * scale),
            "batch_note": "MACs are for the whole batch",
            "fake_B_zero_fraction": zero_fraction, "fake_B_one_fraction": one_fraction,
            "input_sensitivity": sensitivity, "lstm_state_effect_on_fake_B": state_effect,
            "stand_ins": notes, "runtime_s": None,
            "shapes": {k: list(v.shape) for k, v in outputs.items()}}
    meta["runtime_s"] = round(time.time() - started, 2)
    with open(os.path.join(dst, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print("reference print_networks: " + "; ".join(printed))
    print(f"G_T {meta['params_g_t']:,} + G_R {meta['params_g_r']:,} = {meta['params_generators']:,} parameters, "
          f"D {meta['params_d']:,}; {len(state)} tensors in state_dict.pth, {len(dstate)} in discriminator_state_dict.pth")
    print(f"MACs (conv, batch {a.batch}, {a.size}x{a.size}): {per_pass:,} per generator pass, {macs.total:,} for the "
          f"3 iterations of G_T and G_R; at 256x256: {meta['macs_generator_pass_256']:,} / {meta['macs_inference_256']:,}")
    print("outputs: " + ", ".join(f"{k} {tuple(v.shape)} in [{v.min():.4f}, {v.max():.4f}]"
                                  for k, v in outputs.items()
                                  if k in ("fake_B", "fake_Rs.3", "fake_T", "fake_T2", "fake_T4", "t_h", "t_c", "D", "D_fake")))
    print(f"fake_B: {100 * zero_fraction:.1f}% exact zeros (final ReLU), {100 * one_fraction:.1f}% clamped at 1; "
          "largest change for another input: " + ", ".join(f"{k} {v:.3e}" for k, v in sensitivity.items())
          + f"; without the carried LSTM states: fake_B {state_effect:.3e}")
    if zero_fraction > 0.9 or sensitivity["fake_B"] < 1e-3 or state_effect < 1e-4:
        print("WARNING: fake_B hardly depends on the input or on the LSTM path at this init; consider --init signal")
    print(f"wrote {dst} in {meta['runtime_s']:.1f} s")


if __name__ == "__main__":
    main()
