#!/usr/bin/python3
"""Times the reference code of Location-aware SIRR, Physics-GAN and MBN / R-MBN, the peers of `dmgn bench model`.

Usage:
  python3 tools/peer_bench_systems.py REPO_ROOT [--systems lasirr pgan mbn] [--device cpu|cuda]
      [--precision fp32 bf16] [--sizes 256] [--repeats 20] [--warmup 3] [--fwd-bwd-repeats 20]
      [--train-batch 4] [--train-size 256] [--threads N] [--seed 0] [--store results/runs.sqlite]
      [--config SYSTEM=OUR_CONFIG ...] [--dmgn BINARY|none]

REPO_ROOT holds the reference checkouts kept outside version control as lasirr/
(zdlarr/Location-aware-SIRR), physicsgan/ (Chanson94/Physicsgan) and mbn/ (6272code/6272-code)
-- third_party/ or the GPU bundle's .gpu_bundle/ -- or is one of them itself (then name its
system with --systems). Their modules are imported at run time as the parity tools import them
(tools/lasirr_parity.py, pgan_parity.py, mbn_parity.py); nothing of them is copied into this
project, and no bytecode is written into them.

Each reference network is built at the configuration one of our configs gives it (the resolved
config of `dmgn config show`, which also gives the config hash the rows are paired by; with
--dmgn none, or no built dmgn, the TOML files themselves: the extends chain over the schemas'
defaults, and rows without a hash, paired by experiment and variant). Default configs (--config
SYSTEM=PATH replaces a system's, repeatable):
  lasirr  experiments/location_sirr/base.toml  LRM; the recurrence as our port runs it: h = c = 0
          (64 channels), T_0 = I, model.iterations calls LRM(I, T_prev, h, c), nothing clamped;
  pgan    experiments/physics_gan/ours.toml    ResnetGenerator(3, 3, model.ngf, instance norm,
          model.blocks) (part 'generator') and the two critics NLayerDiscriminator(3,
          discriminator.ndf, discriminator.layers, discriminator.norm, no sigmoid) (parts
          'critic_d_g', 'critic_d_h': forward+backward only, batch --train-batch at --train-size,
          the loss LSGAN's real term mean((D(x) - 1)^2), as our bench model times each critic);
  mbn     experiments/mbn/base.toml            EnDNet(3, rain_iter=model.rain_iterations), one
          part per task path of the released code (rain, blur, jpeg, haze: net(C, M, F, task),
          the bicubic pyramid M = F/2, C = M/2 built inside the timed pass for blur and jpeg,
          where our model builds it in its forward); the path our config runs as it is
          (model.path, else task.name) is marked own=1, the others are paired with our config
          run with --set 'model.path="TASK"' (the commands are printed);
          experiments/mbn/rmbn.toml            R-MBN: part 'chain', test_RMBN.py's chain through
          model.order, each stage's output clamped to [0, 1] before the next; the pyramid is
          built from it where a blur or jpeg stage reads it, as ours does (test_RMBN.py's
          ProcessResult builds the same bicubic halves after every stage).
A config that sets a network key the reference cannot express (e.g. MBN's minimal design) is
reported and skipped.

Measured exactly as `dmgn bench model` measures ours (train/bench_model.cpp; the helpers of
tools/peer_bench.py): torch.backends.cudnn.benchmark = True; input and target uniform in
[-1, 1] as ours; per precision a network built afresh (torch.manual_seed(--seed));
  inference  batch 1 at each --sizes, eval(), torch.inference_mode(), median of --repeats
             passes after --warmup, each followed by torch.cuda.synchronize() on CUDA;
  fwd+bwd    train() mode, batch --train-batch at --train-size, the summed L1 against a random
             target of the image outputs our model declares and returns (Location-aware SIRR:
             T_N, R_N and the side outputs at H/2 and H/4, each against a target of its own
             size, as our bench model draws them); Physics-GAN: G(y); MBN: the path's fine
             output; R-MBN: the final output and each task's stage output), backward, gradients
             dropped; median of --fwd-bwd-repeats after max(1, --warmup); no parameter frozen
             (our bench model freezes none either: R-MBN's frozen input branches are the
             recipe's);
  bf16       torch.autocast(device, dtype=torch.bfloat16) around forward and loss.
The parameters reached by the first backward of each part are counted and printed (their union
over a config's parts is the network that runs, comparable to our count without vestigial
parameters).

Rows go to the run store's benchmarks table (bench 'peer', the device text and torch version of
tools/peer_bench.py; params 'impl=reference system=S experiment=E variant="V" part=P own=0|1
peer_of=model|critic ...', config_hash = the hash of our config for that part): latency_ms and
fwd_bwd_ms as our rows, parameters (count) per network and critic. tools/peer_compare.py prints
them beside ours; a peer_of=critic row pairs with our critic_fwd_bwd_ms row of that critic.
"""
import argparse
import contextlib
import functools
import glob
import io
import os
import re
import subprocess
import sys
import warnings

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from peer_bench import (add_timing_options, device_description, device_name, failure, store_rows,  # noqa: E402
                        time_median, timing_device)

SYSTEMS = {  # name: (folder under REPO_ROOT, a file that marks the checkout, our default configs)
    "lasirr": ("lasirr", "location_aware_sirr_model.py", ["experiments/location_sirr/base.toml"]),
    "pgan": ("physicsgan", os.path.join("models", "networks.py"), ["experiments/physics_gan/ours.toml"]),
    "mbn": ("mbn", os.path.join("pietorch", "M_DuRN.py"), ["experiments/mbn/base.toml", "experiments/mbn/rmbn.toml"]),
}
MODEL_NAME = {"lasirr": "location_sirr", "pgan": "physics_gan", "mbn": "mbn"}
MBN_TASKS = ["rain", "blur", "jpeg", "haze"]
# Network keys of our configs the reference code has fixed (key: the reference's value).
FIXED = {
    "lasirr": {"model.image_se_blocks": 6, "model.rdm_se_blocks": 3, "model.tsm_se_blocks": 3, "model.se_reduction": 2,
               "model.width": 32, "model.hidden": 64, "model.ae_widths": [64, 128, 256],
               "model.cbam_reductions": [2, 4, 8], "model.res_scale": 0.1, "model.rdm": True, "model.tsm": True,
               "model.lstm": True, "model.rcmap_convention": "code", "model.rcmap_source": "laplacian",
               "model.laplacian.scales": [8, 4, 2, 1], "model.laplacian.operator": "laplacian",
               "model.laplacian.learnable": True},
    "pgan": {"discriminator.name": "patchgan_image"},
    "mbn": {"model.design": "improved", "model.attention": "gap_tv", "model.fusion": True, "model.tv_beta": 3.0},
}


# ---------------------------------------------------------------------------------------------
# Our configs: resolved by `dmgn config show` (with the hash rows are paired by), or read from
# the TOML files when there is no binary.

def toml_loads(text):
    try:
        import tomllib
    except ImportError:
        try:
            import tomli as tomllib
        except ImportError:
            return mini_toml(text)
    return tomllib.loads(text)


def mini_toml(text):
    """The canonical TOML `dmgn config show` prints ([a.b] headers, one key = value a line),
    for a Python without tomllib: values read as JSON where they parse, else kept as text."""
    import json
    out = cur = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^\[([^\]]+)\]$", line)
        if m:
            cur = out
            for k in m.group(1).split("."):
                cur = cur.setdefault(k.strip('"'), {})
            continue
        k, _, v = line.partition("=")
        v = v if v.strip().startswith('"') else v.split("#")[0]
        try:
            cur[k.strip().strip('"')] = json.loads(v.strip())
        except ValueError:
            cur[k.strip().strip('"')] = v.strip()
    return out


def merge(base, over):
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def get(cfg, key, default=None):
    for k in key.split("."):
        if not isinstance(cfg, dict) or k not in cfg:
            return default
        cfg = cfg[k]
    return cfg


def with_set(cfg, assignment):
    key, _, value = assignment.partition("=")
    node = {}
    top = node
    parts = key.strip().split(".")
    for k in parts[:-1]:
        node = node.setdefault(k, {})
    node[parts[-1]] = toml_loads(f"v = {value.strip()}")["v"]
    return merge(cfg, top)


def read_files(path, sets):
    """Our config from its TOML files: the extends chain over the defaults of the schemas that
    the result selects (core, its model, its recipe). No hash."""
    def chain(p):
        with open(p, encoding="utf-8") as f:
            d = toml_loads(f.read())
        merged = {}
        for e in d.pop("extends", []):
            merged = merge(merged, chain(os.path.join(os.path.dirname(p), e)))
        return merge(merged, d)
    cfg = chain(path)
    for s in sets:
        cfg = with_set(cfg, s)
    schemas = []
    for f in sorted(glob.glob(os.path.join(ROOT, "framework", "**", "*.schema.toml"), recursive=True)):
        with open(f, encoding="utf-8") as fh:
            d = toml_loads(fh.read())
        meta = d.pop("schema", {})
        meta.pop("rules", None)
        schemas.append((meta, d))
    defaults = {}
    for meta, d in schemas:
        if meta.get("kind") == "core":
            defaults = merge(defaults, d)
    probe = merge(defaults, cfg)
    for meta, d in schemas:
        if meta.get("kind") != "core" and any(get(probe, k) == meta.get("name") for k in meta.get("selected_by", [])):
            defaults = merge(defaults, d)
    return merge(defaults, cfg)


def resolve(dmgn, path, sets=()):
    """(resolved config, hash or '') of our config `path` with --set assignments."""
    full = path if os.path.isabs(path) else os.path.join(ROOT, path)
    if not dmgn:
        return read_files(full, sets), ""
    cmd = [dmgn, "config", "show", full] + [a for s in sets for a in ("--set", s)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    m = re.search(r"^# hash ([0-9a-f]{16,})", r.stdout, re.M)
    if r.returncode != 0 or not m:
        sys.exit(f"peer_bench_systems: {' '.join(cmd)} failed ({r.returncode}): {(r.stderr or r.stdout).strip()[:300]}"
                 "\n(--dmgn none reads the TOML files instead, without config hashes)")
    return toml_loads(r.stdout), m.group(1)


def find_dmgn(choice):
    if choice == "none":
        return None
    if choice:
        if not os.access(choice, os.X_OK):
            sys.exit(f"peer_bench_systems: --dmgn {choice} is not an executable")
        return os.path.abspath(choice)
    for c in ("build/dmgn", "build-gpu/dmgn"):
        if os.access(os.path.join(ROOT, c), os.X_OK):
            return os.path.join(ROOT, c)
    return None


def mismatches(system, cfg):
    bad = [f"model.name = {get(cfg, 'model.name')!r} (not {MODEL_NAME[system]!r})"] \
        if get(cfg, "model.name") != MODEL_NAME[system] else []
    for key, want in FIXED[system].items():
        have = get(cfg, key)
        close = isinstance(want, float) and isinstance(have, (int, float)) and abs(have - want) < 1e-9
        if have != want and not close:
            bad.append(f"{key} = {have!r} (the reference: {want!r})")
    if system == "pgan" and get(cfg, "discriminator.norm") not in ("instance", "batch"):
        bad.append(f"discriminator.norm = {get(cfg, 'discriminator.norm')!r} (the reference: instance or batch)")
    if system == "mbn" and get(cfg, "model.mode") == "recurrent" and \
            any(t not in MBN_TASKS for t in get(cfg, "model.order", [])):
        bad.append(f"model.order = {get(cfg, 'model.order')!r}")
    return bad


# ---------------------------------------------------------------------------------------------
# The reference networks and their parts. A part: its name, own (the path our config runs as it
# is), peer_of (model: our bench model's network; critic: one of its critics), our config hash, its
# module, run(x) -> the outputs the forward+backward loss sums, and whether inference is timed.

class Part:
    def __init__(self, name, own, peer_of, config_hash, module, run, infer=True):
        self.name, self.own, self.peer_of, self.config_hash = name, own, peer_of, config_hash
        self.module, self.run, self.infer = module, run, infer


def import_reference(system, repo):
    sys.dont_write_bytecode = True  # leave the checkout untouched
    sys.path.insert(0, repo)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if system == "lasirr":
            from lasirr_parity import MODULE
            import importlib
            return importlib.import_module(MODULE)
        if system == "pgan":
            from models import networks
            return networks
        from mbn_parity import stub_missing_modules
        stub_missing_modules()
        from pietorch import M_DuRN
        return M_DuRN


def lasirr_parts(ref, cfg, config_hash, device):
    net = ref.LRM(device).to(device)
    iterations = int(get(cfg, "model.iterations"))

    def run(x):
        b, _, s, w = x.shape
        h = torch.zeros(b, 64, s, w, device=x.device)
        c = torch.zeros(b, 64, s, w, device=x.device)
        t = x
        for _ in range(iterations):
            h, c, _c_map, r, frame1, frame2, t = net(x, t, h, c)
        return [t, r, frame2, frame1]  # background, noise, frame_half, frame_quarter
    return [Part("model", 1, "model", config_hash, net, run)], f"iterations {iterations}"


def pgan_parts(ref, cfg, config_hash, device):
    norm = functools.partial(torch.nn.InstanceNorm2d, affine=False)
    ngf, blocks = int(get(cfg, "model.ngf")), int(get(cfg, "model.blocks"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # init.normal is deprecated
        g = ref.ResnetGenerator(3, 3, ngf, norm_layer=norm, use_dropout=False, n_blocks=blocks)
        with contextlib.redirect_stdout(io.StringIO()):  # init_weights prints a line per call
            ref.init_weights(g, "normal")
        critics = []
        ndf, layers = int(get(cfg, "discriminator.ndf")), int(get(cfg, "discriminator.layers"))
        for _ in ("d_g", "d_h"):
            d = ref.NLayerDiscriminator(3, ndf, n_layers=layers, use_sigmoid=False,
                                        norm_layer=ref.get_norm_layer(get(cfg, "discriminator.norm")))
            with contextlib.redirect_stdout(io.StringIO()):
                ref.init_weights(d, "normal")
            critics.append(d.to(device))
    g = g.to(device)
    parts = [Part("generator", 1, "model", config_hash, g, lambda x: [g(x)])]
    for name, d in zip(("critic_d_g", "critic_d_h"), critics):
        parts.append(Part(name, 1, "critic", config_hash, d, lambda x, d=d: [d(x)], infer=False))
    return parts, f"ngf {ngf}, {blocks} blocks; critics ndf {get(cfg, 'discriminator.ndf')}, " \
                  f"{get(cfg, 'discriminator.layers')} layers, {get(cfg, 'discriminator.norm')} norm"


def half(x):
    """The bicubic half of x (align_corners false), as the reference's pyramid and ours."""
    return F.interpolate(x, size=(x.shape[-2] // 2, x.shape[-1] // 2), mode="bicubic", align_corners=False)


def mbn_path(net, task, x):
    if task in ("blur", "jpeg"):
        mid = half(x)
        return net(half(mid), mid, x, task)[2]
    return net(x, x, x, task)  # rain and haze read only the fine image


def mbn_parts(ref, cfg, path, config_hash, dmgn, device):
    """MBN: one part per task path (the config's own path as it is, the others with model.path
    set); R-MBN: the chain."""
    net = ref.EnDNet(img_dim=3, rain_iter=int(get(cfg, "model.rain_iterations"))).to(device)
    what = f"rain_iter {get(cfg, 'model.rain_iterations')}"
    if get(cfg, "model.mode") == "recurrent":
        order = list(get(cfg, "model.order"))

        def chain(x):
            fine, stage = x, {}
            for i, task in enumerate(order):
                out = mbn_path(net, task, fine if i == 0 else fine.clamp(0, 1))
                stage[task] = out
                fine = out
            # test_RMBN.py's ProcessResult rebuilds C, M from the clamped output by scale factor 0.5;
            # for the next stage's blur / jpeg path that is the pyramid mbn_path builds.
            return [fine] + [stage[t] for t in order]  # background, stage_<task> per entry of model.order
        return [Part("chain", 1, "model", config_hash, net, chain)], \
            what + ", order " + ">".join(order)
    own = get(cfg, "model.path") or get(cfg, "task.name")
    own = own if own in MBN_TASKS else "haze"
    parts = []
    for task in MBN_TASKS:
        key = (path, task)
        if key not in PATH_HASHES:  # our config routed to this task: its hash
            PATH_HASHES[key] = config_hash if task == own else \
                resolve(dmgn, path, [f'model.path="{task}"'])[1] if dmgn else ""
        parts.append(Part(task, int(task == own), "model", PATH_HASHES[key], net,
                          lambda x, task=task: [mbn_path(net, task, x)]))
    return parts, what + f", own path {own}"


PATH_HASHES = {}  # (our MBN config, task) -> the hash of that config with model.path = task


def count(module):
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------------------------

def measure(part, device, args, precision, base, rows, reached):
    """Inference per size and forward+backward of one part; rows appended."""
    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    params = f"{base} part={part.name} own={part.own} peer_of={part.peer_of} precision={precision}"
    what = part.name
    if part.infer:
        part.module.eval()
        for size in args.sizes:
            x = torch.rand(1, 3, size, size, device=device) * 2 - 1
            try:
                with torch.inference_mode():
                    def infer():
                        with autocast():
                            part.run(x)
                    t = time_median(device, args.warmup, args.repeats, infer)
            except Exception as e:  # noqa: BLE001  (the reference may refuse a size: report, go on)
                print(f"  {what:10s} {size}x{size}: inference FAILED: {failure(e)}")
                continue
            print(f"  {what:10s} {size}x{size}: inference {t['median_ms']:.2f} ms median (min {t['min_ms']:.2f}, "
                  f"max {t['max_ms']:.2f}, {t['repeats']} runs)")
            rows.append(("latency_ms", t["median_ms"], "ms", f"{params} size={size} repeats={t['repeats']} "
                         f"warmup={args.warmup}", part.config_hash))
    if args.fwd_bwd_repeats <= 0:
        return
    part.module.train()
    b, s = args.train_batch, args.train_size
    x = torch.rand(b, 3, s, s, device=device) * 2 - 1
    targets = {(b, 3, s, s): torch.rand(b, 3, s, s, device=device) * 2 - 1}
    plist = list(part.module.parameters())
    first = [True]

    def target(o):
        shape = tuple(o.shape)
        if shape not in targets:  # created by the first (untimed) call
            targets[shape] = torch.rand(shape, device=device) * 2 - 1
        return targets[shape]

    def fwd_bwd():
        with autocast():
            outs = part.run(x)
            if part.peer_of == "critic":  # LSGAN's real term
                loss = sum(((o.float() - 1) ** 2).mean() for o in outs)
            else:
                loss = sum((o - target(o)).abs().mean().float() for o in outs)
        loss.backward()
        if first[0]:
            first[0] = False
            reached.update(id(p) for p in plist if p.grad is not None)
            n = sum(p.numel() for p in plist if p.grad is not None)
            print(f"  {what:10s} parameters reached by backward: {n:,} of {count(part.module):,}")
        for p in plist:
            p.grad = None
    try:
        t = time_median(device, max(1, args.warmup), args.fwd_bwd_repeats, fwd_bwd)
    except Exception as e:  # noqa: BLE001
        print(f"  {what:10s} fwd+bwd FAILED: {failure(e)}")
        return
    print(f"  {what:10s} fwd+bwd  : {t['median_ms']:.2f} ms median (min {t['min_ms']:.2f}, max {t['max_ms']:.2f}, "
          f"{t['repeats']} runs) at batch {b} x {s}x{s}, {1000 * b / t['median_ms']:.2f} images/s")
    rows.append(("fwd_bwd_ms", t["median_ms"], "ms", f"{params} batch={b} size={s} repeats={t['repeats']}",
                 part.config_hash))


def repo_of(root, system):
    folder, marker, _ = SYSTEMS[system]
    for cand in (os.path.join(root, folder), root):
        if os.path.isfile(os.path.join(cand, marker)):
            return cand
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("repo_root")
    ap.add_argument("--systems", "--system", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    add_timing_options(ap, [256])
    ap.add_argument("--config", action="append", default=[], metavar="SYSTEM=PATH",
                    help="our config whose network the reference is built as (repeatable; replaces that "
                         "system's defaults)")
    ap.add_argument("--dmgn", default="", help="dmgn binary for `config show` (default build/dmgn or "
                    "build-gpu/dmgn; 'none': read the TOML files, rows without config hashes)")
    args = ap.parse_args()

    device = timing_device(args, "peer_bench_systems")
    configs = {s: list(SYSTEMS[s][2]) for s in SYSTEMS}
    given = {}
    for c in args.config:
        system, _, path = c.partition("=")
        if system not in SYSTEMS or not path:
            sys.exit(f"peer_bench_systems: --config {c}: expected SYSTEM=PATH with SYSTEM one of {', '.join(SYSTEMS)}")
        given.setdefault(system, []).append(path)
    configs.update(given)
    root = os.path.abspath(args.repo_root)
    repos = {s: repo_of(root, s) for s in args.systems}
    missing = [s for s, r in repos.items() if r is None]
    if missing:
        sys.exit("peer_bench_systems: no reference code for " + ", ".join(
            f"{s} ({os.path.join(root, SYSTEMS[s][0], SYSTEMS[s][1])} missing)" for s in missing))
    dmgn = find_dmgn(args.dmgn)
    desc, name = device_description(device), device_name(device)
    print(f"peer (reference code of {', '.join(args.systems)}) | {desc} | torch {torch.__version__} | "
          f"{torch.get_num_threads()} torch thread(s) | our configs via "
          f"{os.path.relpath(dmgn, ROOT) + ' config show' if dmgn else 'the TOML files (no dmgn: no config hashes)'}")
    rows, ours_cmds = [], []
    cuda_orig = torch.Tensor.cuda
    if device.type == "cpu":  # MBN's rain branch makes its zero LSTM state with .cuda()
        torch.Tensor.cuda = lambda self, *a, **k: self
    try:
        for system in args.systems:
            ref = import_reference(system, repos[system])
            for path in configs[system]:
                cfg, config_hash = resolve(dmgn, path)
                bad = mismatches(system, cfg)
                if bad:
                    print(f"== {system} as {path}: SKIPPED, the reference cannot express: {'; '.join(bad)}")
                    continue
                exp, variant = get(cfg, "run.experiment", ""), get(cfg, "run.variant", "")
                base = (f'impl=reference system={system} experiment={exp} variant="{variant}" '
                        f'threads={torch.get_num_threads()} device_name="{name}"')
                reached = set()
                first_parts = None
                for precision in args.precision:
                    torch.manual_seed(args.seed)
                    build = {"lasirr": lambda: lasirr_parts(ref, cfg, config_hash, device),
                             "pgan": lambda: pgan_parts(ref, cfg, config_hash, device),
                             "mbn": lambda: mbn_parts(ref, cfg, path, config_hash, dmgn, device)}[system]
                    parts, what = build()
                    if first_parts is None:
                        first_parts = parts
                        print(f"== {system} as {path} ({exp}/{variant}, config "
                              f"{config_hash[:12] or 'hash unknown'}): {what}")
                        for p in parts:
                            extra = "" if p.own else f" --set 'model.path=\"{p.name}\"'"
                            cmd = f"dmgn bench model {path}{extra}"
                            if p.peer_of == "model" and cmd not in ours_cmds:
                                ours_cmds.append(cmd)
                    print(f"[{precision}]")
                    for part in parts:
                        measure(part, device, args, precision, base, rows, reached)
                    del parts
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
                seen = set()
                for p in first_parts:
                    if id(p.module) in seen:
                        continue
                    seen.add(id(p.module))
                    pname = "network" if p.peer_of == "model" else p.name
                    print(f"  parameters {pname}: {count(p.module):,}")
                    rows.append(("parameters", float(count(p.module)), "count",
                                 f"{base} part={pname} own=1 peer_of={p.peer_of}", config_hash))
                net_params = {id(q): q.numel() for p in first_parts if p.peer_of == "model"
                              for q in p.module.parameters()}
                if reached and args.fwd_bwd_repeats > 0:
                    n = sum(v for k, v in net_params.items() if k in reached)
                    print(f"  parameters of the network reached by backward over its parts: {n:,}")
                del first_parts
    finally:
        torch.Tensor.cuda = cuda_orig
    if not rows:
        sys.exit("peer_bench_systems: nothing measured")
    store_rows(args.store, rows, desc, tool="peer_bench_systems")
    print("ours, " + ("paired by config hash" if dmgn else "paired by experiment and variant (no config hashes: "
                      "only each config's own path pairs)") + " (add the same sizes, batch, precisions and "
          "--set 'runtime.store=...'):")
    for c in ours_cmds:
        print(f"  {c}")


if __name__ == "__main__":
    main()
