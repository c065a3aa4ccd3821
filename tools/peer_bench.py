#!/usr/bin/python3
"""Times the official DMGN PyTorch code, the peer of `dmgn bench model`, on the same device.

Usage:
  python3 tools/peer_bench.py OFFICIAL_REPO_DIR [--device cpu|cuda] [--precision fp32 bf16]
      [--sizes 256 512] [--repeats 20] [--warmup 3] [--fwd-bwd-repeats 20]
      [--train-batch 4] [--train-size 256] [--threads N] [--store results/runs.sqlite]
      [--compile [--compile-mode default]]

OFFICIAL_REPO_DIR is a checkout of funkdub/DMGN-Deep-Masking-Generative-Network-TIP2021 kept
outside version control (its model_reflection.py and vgg.py are imported at run time; nothing
of it is copied into this project). torchvision is replaced by the stand-in VGG-19 of
tools/official_parity.py (random weights: speed does not depend on them).

Measured exactly as `dmgn bench model` measures our model (train/bench_model.h):
  inference  batch 1 at each size, eval(), torch.inference_mode(), median of --repeats timed
             passes after --warmup, each followed by torch.cuda.synchronize() on CUDA;
  fwd+bwd    train() mode, batch --train-batch at --train-size: the summed L1 of the three
             returned images (R, B_coarse, B) against a random target, backward, gradients
             dropped; median of --fwd-bwd-repeats;
  bf16       torch.autocast(device, dtype=torch.bfloat16) around forward (and loss), as our
             train.precision = "bf16"; fp32 runs with PyTorch's defaults (on CUDA cuDNN may
             use TF32 for convolutions, as LibTorch does; torch.backends.cudnn.benchmark = True
             for both implementations).
Rows go to the run store's benchmarks table (bench 'peer', params 'impl=official ...'), with
the device and torch version; tools/peer_compare.py prints the ratios against our rows.

--compile (torch >= 2.0; with an older torch one line says so and only the eager rows are taken)
additionally times the official model under torch.compile(model, dynamic=False,
mode=--compile-mode) after the eager measurements of each precision: every (precision, size,
part) gets a fresh compilation (torch._dynamo.reset() before it), so each is compiled once for
its static shape. The first call's wall time, plus that of any warmup call during which dynamo
compiled another graph, is the compile time (metric compile_s, unit s, params '... part=inference
size=S' or '... part=fwd_bwd batch=B size=S'); the latency_ms / fwd_bwd_ms rows are the median of
the timed calls after it, as for eager. Their params say 'impl=official-compile
compile_mode=MODE', so peer_compare.py shows them as lines of their own. A part that fails to
compile is reported and skipped; the other parts still run.
"""
import argparse
import datetime
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from official_parity import install_torchvision_standin  # noqa: E402


def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def device_description(device):
    # The same text as train::device_description, so rows of both implementations pair up.
    if device.type == "cuda":
        return f"cuda:{device.index or 0}: {device_name(device)}"
    return f"cpu: {device_name(device)} ({os.cpu_count()} cores)"


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_median(device, warmup, repeats, fn):
    for _ in range(warmup):
        fn()
    sync(device)
    ms = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        ms.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": statistics.median(ms), "min_ms": min(ms), "max_ms": max(ms), "repeats": repeats}


KINDS = [("convolution", ("conv", "gemm", "xmma", "sm90", "sm80", "cutlass", "implicit", "winograd", "fft", "dgrad",
                           "wgrad", "nhwc", "nchw")),
         ("resize", ("upsample", "interp")), ("pad", ("reflection", "pad")), ("concat", ("cat",)),
         ("layout/copy", ("copy", "transpose", "contiguous")),
         ("elementwise", ("elementwise", "vectorized", "unrolled")),
         ("reduction", ("reduce",))]


def profile(model, device, size, autocast):
    """Device time of one inference pass by kind of kernel, and the heaviest kernels."""
    from torch.profiler import ProfilerActivity, profile as torch_profile
    x = torch.rand(1, 3, size, size, device=device) * 2 - 1
    with torch.inference_mode():
        for _ in range(3):
            with autocast():
                model(x)
        sync(device)
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with torch_profile(activities=acts) as prof:
            with autocast():
                model(x)
            sync(device)
    kernels = {}
    for e in prof.events():
        on_device = str(getattr(e, "device_type", "")).endswith("CUDA")
        if (device.type == "cuda") != on_device:
            continue
        t = e.time_range.elapsed_us()
        kernels.setdefault(e.name, [0.0, 0])
        kernels[e.name][0] += t
        kernels[e.name][1] += 1
    total = sum(v[0] for v in kernels.values()) or 1.0
    by_kind = {}
    for name, (t, n) in kernels.items():
        low = name.lower()
        kind = next((k for k, keys in KINDS if any(w in low for w in keys)), "other")
        agg = by_kind.setdefault(kind, [0.0, 0])
        agg[0] += t
        agg[1] += n
    print(f"  profile {size}x{size}: {total / 1e3:.2f} ms of device time in "
          f"{sum(v[1] for v in kernels.values())} kernels")
    for kind, (t, n) in sorted(by_kind.items(), key=lambda kv: -kv[1][0]):
        print(f"    {kind:12s} {t / 1e3:8.2f} ms {100 * t / total:5.1f}% ({n} kernels)")
    for name, (t, n) in sorted(kernels.items(), key=lambda kv: -kv[1][0])[:8]:
        print(f"    {t / 1e3:8.2f} ms x{n:<4d} {name[:110]}")


def compile_supported():
    """torch.compile exists (torch >= 2.0)."""
    try:
        major = int(torch.__version__.split(".")[0])
    except ValueError:
        return False
    return major >= 2 and hasattr(torch, "compile")


def dynamo_graphs():
    """Graphs dynamo has compiled so far in this process (0 where the counter is unknown)."""
    try:
        from torch._dynamo.utils import counters
        return int(counters["stats"]["unique_graphs"])
    except Exception:  # noqa: BLE001  (a private counter: absent or renamed in some version)
        return 0


def time_compiled(device, warmup, repeats, fn):
    """time_median of a compiled fn, its compile time apart: the first call, plus each of the
    max(1, warmup) further untimed calls during which dynamo compiled another graph."""
    graphs0 = dynamo_graphs()
    t0 = time.perf_counter()
    fn()
    sync(device)
    compile_s, recompiles = time.perf_counter() - t0, 0
    for _ in range(max(1, warmup)):
        g = dynamo_graphs()
        t0 = time.perf_counter()
        fn()
        sync(device)
        if dynamo_graphs() > g:
            compile_s += time.perf_counter() - t0
            recompiles += 1
    t = time_median(device, 0, repeats, fn)
    t.update(compile_s=compile_s, graphs=dynamo_graphs() - graphs0, recompiles=recompiles)
    return t


def failure(e):
    """One line naming an exception."""
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0][:200] if lines else ''}"


def store_rows(store, rows, desc, tool="peer_bench", bench="peer"):
    """Appends rows (name, value, unit, params[, config_hash]) to the store's benchmarks table."""
    os.makedirs(os.path.dirname(os.path.abspath(store)), exist_ok=True)
    con = sqlite3.connect(store)
    try:
        have = con.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='benchmarks'").fetchone()
        if not have:
            sys.exit(f"{tool}: {store} has no benchmarks table: run a dmgn command on it first "
                     "(e.g. dmgn bench model) so it has the project's schema")
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with con:
            for row in rows:
                name_, value, unit, p = row[:4]
                config_hash = row[4] if len(row) > 4 else ""
                con.execute("INSERT INTO benchmarks (bench, name, value, unit, params, config_hash, device, "
                            "torch_version, git_revision, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (bench, name_, value, unit, p, config_hash, desc, torch.__version__, git_revision(), now))
    finally:
        con.close()
    print(f"stored in {store} (benchmarks table, bench '{bench}')")


def git_revision():
    try:
        return subprocess.run(["git", "-C", HERE, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def measure_compiled(model, device, args, autocast, params):
    """--compile: each (size, part) of this precision compiled afresh for its static shape and
    timed as the eager model is; rows with params 'impl=official-compile ...'."""
    rows = []
    cparams = params.replace("impl=official ", f"impl=official-compile compile_mode={args.compile_mode} ", 1)

    import torch._dynamo  # noqa: F401  (torch >= 2.0: compile_supported() was checked)

    def compiled():
        torch._dynamo.reset()
        return torch.compile(model, dynamic=False, mode=args.compile_mode)

    def report(what, t):
        print(f"  compiled {what}: {t['median_ms']:.2f} ms median (min {t['min_ms']:.2f}, max {t['max_ms']:.2f}, "
              f"{t['repeats']} runs) | compile {t['compile_s']:.1f} s ({t['graphs']} graph(s), "
              f"{t['recompiles']} recompile(s) after the first call)")

    model.eval()
    for size in args.sizes:
        x = torch.rand(1, 3, size, size, device=device) * 2 - 1
        try:
            cm = compiled()
            with torch.inference_mode():
                def infer():
                    with autocast():
                        cm(x)
                t = time_compiled(device, args.warmup, args.repeats, infer)
        except Exception as e:  # noqa: BLE001  (a compiler failure is a result to report, not a crash)
            print(f"  compiled {size}x{size}: inference FAILED: {failure(e)}")
            continue
        report(f"{size}x{size} inference", t)
        rows.append(("latency_ms", t["median_ms"], "ms",
                     f"{cparams} size={size} repeats={t['repeats']} warmup={args.warmup}"))
        rows.append(("compile_s", t["compile_s"], "s", f"{cparams} part=inference size={size}"))
    if args.fwd_bwd_repeats > 0:
        model.train()
        b, s = args.train_batch, args.train_size
        x = torch.rand(b, 3, s, s, device=device) * 2 - 1
        target = torch.rand(b, 3, s, s, device=device) * 2 - 1
        try:
            cm = compiled()
            fwd_bwd = summed_l1_fwd_bwd(model, lambda v: cm(v)[:3], x, target, autocast)
            t = time_compiled(device, args.warmup, args.fwd_bwd_repeats, fwd_bwd)
        except Exception as e:  # noqa: BLE001
            print(f"  compiled fwd+bwd: FAILED: {failure(e)}")
            t = None
        if t:
            report(f"fwd+bwd {b} x {s}x{s}", t)
            rows.append(("fwd_bwd_ms", t["median_ms"], "ms", f"{cparams} batch={b} size={s} repeats={t['repeats']}"))
            rows.append(("compile_s", t["compile_s"], "s", f"{cparams} part=fwd_bwd batch={b} size={s}"))
    torch._dynamo.reset()
    return rows


def add_timing_options(ap, sizes):
    """The options every peer benchmark shares with `dmgn bench model` (sizes: the default)."""
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    ap.add_argument("--sizes", nargs="+", type=int, default=sizes)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--fwd-bwd-repeats", type=int, default=20)
    ap.add_argument("--train-batch", type=int, default=4)
    ap.add_argument("--train-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--store", default="results/runs.sqlite")


def timing_device(args, tool):
    """Checks the shared options, applies --threads and cuDNN's search; the torch device."""
    if args.repeats < 1 or args.fwd_bwd_repeats < 0:
        sys.exit(f"{tool}: --repeats must be >= 1 and --fwd-bwd-repeats >= 0")
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit(f"{tool}: --device cuda but torch.cuda.is_available() is False")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True
    return torch.device("cuda", 0) if args.device == "cuda" else torch.device("cpu")


def summed_l1_fwd_bwd(model, run, x, target, autocast):
    """One forward+backward as `dmgn bench model` times it: the summed L1 of the outputs run(x)
    returns against `target`, backward, gradients dropped."""
    def fwd_bwd():
        with autocast():
            loss = sum((o - target).abs().mean().float() for o in run(x))
        loss.backward()
        for p in model.parameters():
            p.grad = None
    return fwd_bwd


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("official_repo_dir")
    add_timing_options(ap, [256, 512])
    ap.add_argument("--profile-size", type=int, default=0,
                    help="also profile one inference pass at this size per precision (torch.profiler) and print "
                         "where the device time goes, by kind of kernel (nothing is stored)")
    ap.add_argument("--compile", action="store_true",
                    help="also time the model under torch.compile(dynamic=False), compile time apart (torch >= 2.0)")
    ap.add_argument("--compile-mode", default="default",
                    choices=["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"],
                    help="torch.compile's mode for --compile")
    args = ap.parse_args()

    repo = os.path.abspath(args.official_repo_dir)
    if not os.path.isfile(os.path.join(repo, "model_reflection.py")):
        sys.exit(f"peer_bench: {repo} is not the official DMGN code: model_reflection.py missing")
    device = timing_device(args, "peer_bench")
    sys.dont_write_bytecode = True  # leave the official checkout untouched
    sys.path.insert(0, repo)
    install_torchvision_standin()
    import model_reflection  # noqa: E402  (the official module)
    compile_ok = args.compile and compile_supported()
    if args.compile and not compile_ok:
        print(f"peer_bench: --compile needs torch >= 2.0 (torch.compile); this is torch {torch.__version__}: "
              "the compiled measurements are skipped, the eager ones are taken")

    rows = []
    desc = device_description(device)
    name = device_name(device)
    print(f"peer (official DMGN code) | {desc} | torch {torch.__version__} | {torch.get_num_threads()} "
          "torch thread(s)")
    for precision in args.precision:
        torch.manual_seed(args.seed)
        model = model_reflection.Model().to(device)
        def autocast():
            return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

        params = (f'impl=official variant="DMGN" threads={torch.get_num_threads()} device_name="{name}" '
                  f"precision={precision}")
        print(f"[{precision}]")
        model.eval()
        for size in args.sizes:
            x = torch.rand(1, 3, size, size, device=device) * 2 - 1
            with torch.inference_mode():
                def infer():
                    with autocast():
                        model(x)
                t = time_median(device, args.warmup, args.repeats, infer)
            print(f"  {size}x{size}: inference {t['median_ms']:.2f} ms median (min {t['min_ms']:.2f}, max "
                  f"{t['max_ms']:.2f}, {t['repeats']} runs)")
            rows.append(("latency_ms", t["median_ms"], "ms",
                         f"{params} size={size} repeats={t['repeats']} warmup={args.warmup}"))
        if args.profile_size > 0:
            profile(model, device, args.profile_size, autocast)
        if args.fwd_bwd_repeats > 0:
            model.train()
            b, s = args.train_batch, args.train_size
            x = torch.rand(b, 3, s, s, device=device) * 2 - 1
            target = torch.rand(b, 3, s, s, device=device) * 2 - 1
            fwd_bwd = summed_l1_fwd_bwd(model, lambda v: model(v)[:3], x, target, autocast)
            t = time_median(device, max(1, args.warmup), args.fwd_bwd_repeats, fwd_bwd)
            print(f"  fwd+bwd  : {t['median_ms']:.2f} ms median (min {t['min_ms']:.2f}, max {t['max_ms']:.2f}, "
                  f"{t['repeats']} runs) at batch {b} x {s}x{s}, {1000 * b / t['median_ms']:.2f} images/s")
            rows.append(("fwd_bwd_ms", t["median_ms"], "ms",
                         f"{params} batch={b} size={s} repeats={t['repeats']}"))
        if compile_ok:
            rows += measure_compiled(model, device, args, autocast, params)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()

    store_rows(args.store, rows, desc)


if __name__ == "__main__":
    main()
