#!/usr/bin/python3
"""Ours vs the official DMGN code and the other systems' reference code: speed ratios from the run store.

Usage:
  python3 tools/peer_compare.py [--store results/runs.sqlite] [--device SUBSTRING]
      [--format md|csv]

Pairs the latest `dmgn bench model` rows (bench 'model') with the latest rows that
tools/peer_bench.py wrote (bench 'peer') on the same device (the benchmarks table's `device`
text), per precision and measurement: inference latency per size, and forward+backward at the
same batch and size. Of ours, the fastest of the latest rows per way of running (eager or CUDA
graph, contiguous or channels-last, runtime.head_taps) is compared, and named. speed-up = official time / our
time. The goals: inference >= 2x, forward+backward (the training step's work) >= 1.5x. Where
peer_bench.py --compile stored rows of the official model under torch.compile ('impl=
official-compile'), each measurement gets a second line against them, its compile time in the
measurement's name. Of our rows, those of the other systems are left out of this comparison:
experiments location_sirr*, physics_gan*, mbn*, errnet*, ibcln*, gcanet*, prenet*, dcp*, Table
III's ERRNet and IBCLN variants, and configs a reference row names by its hash.

The reference rows of tools/peer_bench_systems.py ('impl=reference') follow in a table of their
own: each is paired with our rows of the config it names by config hash (or, for rows stored
without one, by experiment and variant when our rows of those have a single hash), per
precision, measurement, size and batch; a row of something our bench model does not time (the
Physics-GAN critics, 'peer_of=none') or without a row of ours says 'ours: not measured'. Then
the parameter counts of both (ours: the network that runs, vestigial and loss-only parameters
excluded; the reference: its module's parameters). No goals there. Exits 1 when nothing is
paired and there is no reference row either.
"""
import argparse
import re
import sqlite3
import sys

GOALS = {"latency_ms": 2.0, "fwd_bwd_ms": 1.5}
OTHER_EXPERIMENTS = ("location_sirr", "physics_gan", "mbn", "errnet", "ibcln", "gcanet", "prenet", "dcp")
OTHER_VARIANTS = ("ERRNet", "IBCLN")
COMPILED_PART = {"inference": "latency_ms", "fwd_bwd": "fwd_bwd_ms"}
NOT_MEASURED = "ours: not measured"


def param(params, key):
    m = re.search(r'(?:^| )' + re.escape(key) + r'=("[^"]*"|\S+)', params)
    if not m:
        return None
    v = m.group(1)
    return v[1:-1] if v.startswith('"') else v


def key_of(r, name=None):
    return (r["device"], param(r["params"], "precision") or "fp32", name or r["name"], param(r["params"], "size"),
            param(r["params"], "batch"))


def way_of(r):
    return (param(r["params"], "mode") or "eager", param(r["params"], "channels_last") or "0",
            param(r["params"], "head_taps") or "never")


def latest(rows):
    """(device, precision, name, size, batch) -> the newest row (rows come in id order)."""
    out = {}
    for r in rows:
        out[key_of(r)] = r
    return out


def fastest_of_latest(rows):
    """The same key -> the fastest of the newest rows per way of running (mode, layout)."""
    newest = {}
    for r in rows:
        newest[(key_of(r), way_of(r))] = r
    out = {}
    for (key, _), r in newest.items():
        if key not in out or r["value"] < out[key]["value"]:
            out[key] = r
    return out


def what_of(name, size, batch):
    return f"inference 1x{size}^2" if name == "latency_ms" else f"fwd+bwd {batch}x{size}^2"


def ours_way(o, taps=True):
    way = "{} {}".format(param(o["params"], "mode") or "eager",
                         "channels-last" if param(o["params"], "channels_last") == "1" else "contiguous")
    return way + (" head-taps:{}".format(param(o["params"], "head_taps") or "never") if taps else "")


def is_other_system(r, claimed):
    exp = param(r["params"], "experiment") or ""
    return exp.startswith(OTHER_EXPERIMENTS) or param(r["params"], "variant") in OTHER_VARIANTS or \
        r["config_hash"] in claimed


def dmgn_lines(ours_rows, peer_rows):
    """The official DMGN comparison: eager lines as before, then one against torch.compile."""
    ours = fastest_of_latest(ours_rows)
    peer = latest(r for r in peer_rows if (param(r["params"], "impl") or "official") == "official"
                  and r["name"] != "compile_s")
    compiled = latest(r for r in peer_rows if param(r["params"], "impl") == "official-compile"
                      and r["name"] != "compile_s")
    compile_s = {key_of(r, COMPILED_PART.get(param(r["params"], "part"))): r for r in peer_rows
                 if param(r["params"], "impl") == "official-compile" and r["name"] == "compile_s"}
    lines = []
    for key in sorted(k for k in ours if k in peer or k in compiled):
        device, precision, name, size, batch = key
        o = ours[key]
        for p, label in ((peer.get(key), ""), (compiled.get(key), " vs compiled")):
            if p is None:
                continue
            what = what_of(name, size, batch) + label
            if label and key in compile_s:
                what += f" (compile {compile_s[key]['value']:.1f} s)"
            ratio = p["value"] / o["value"]
            goal = GOALS[name]
            lines.append([device, precision, what, f"{o['value']:.2f}", f"{p['value']:.2f}", f"{ratio:.2f}x",
                          f">= {goal:g}x", "yes" if ratio >= goal else "no", o["torch_version"], p["torch_version"],
                          ours_way(o)])
    return lines


def system_lines(model_rows, ref_rows):
    """Reference rows of the other systems beside ours (by config hash, else by name), and the
    parameter counts."""
    timed = [r for r in model_rows if r["name"] in GOALS]
    by_hash = {}
    for r in timed:
        by_hash.setdefault(r["config_hash"], []).append(r)
    by_hash = {h: fastest_of_latest(rs) for h, rs in by_hash.items()}
    hashes_of = {}
    for r in model_rows:
        hashes_of.setdefault((r["device"], param(r["params"], "experiment"), param(r["params"], "variant")),
                             set()).add(r["config_hash"])
    params_of = latest_by(r for r in model_rows if r["name"] == "parameters")
    # Our critics: (config hash, critic, key as the reference's fwd_bwd_ms row) -> the newest row.
    critics, critic_params = {}, {}
    for r in model_rows:
        if r["name"] == "critic_fwd_bwd_ms":
            critics[(r["config_hash"], param(r["params"], "critic"), key_of(r, "fwd_bwd_ms"))] = r
        elif r["name"] == "critic_parameters":
            critic_params[(r["config_hash"], param(r["params"], "critic"), r["device"])] = r

    def ours_hash(p):
        """Our config hash a reference row pairs with, or None."""
        if param(p["params"], "peer_of") == "none":  # rows written before critics were timed by ours
            return None
        if p["config_hash"]:
            return p["config_hash"]
        hs = hashes_of.get((p["device"], param(p["params"], "experiment"), param(p["params"], "variant")), set())
        return next(iter(hs)) if len(hs) == 1 and param(p["params"], "own") == "1" else None

    def ref_key(r):
        g = lambda k: param(r["params"], k) or ""  # noqa: E731
        return (g("system"), g("experiment"), g("variant"), r["config_hash"], g("part")) + key_of(r)

    refs = {}
    for r in ref_rows:
        refs[ref_key(r)] = r
    order = {"latency_ms": 0, "fwd_bwd_ms": 1, "parameters": 2}
    parts = {"model": 0, "network": 0, "generator": 0, "rain": 1, "blur": 2, "jpeg": 3, "haze": 4, "chain": 5}

    def sort_key(k):  # system, config, part, precision, measurement, size, batch
        return (k[0], k[1], k[2], parts.get(k[4], 9), k[4], k[3], k[6] or "", order.get(k[7], 3), int(k[8] or 0),
                int(k[9] or 0))
    timing, counts = [], []
    for k in sorted(refs, key=sort_key):
        p = refs[k]
        system, exp, variant, _, part = k[:5]
        device, precision, name, size, batch = key_of(p)
        config = f"{exp}/{variant}" + (f" ({p['config_hash'][:12]})" if p["config_hash"] else "")
        h = ours_hash(p)
        critic = part[len("critic_"):] if param(p["params"], "peer_of") == "critic" else None
        if name == "parameters":
            if critic is not None:
                o = critic_params.get((h, critic, device)) if h is not None else None
            else:
                o = params_of.get((h, device)) if h is not None else None
            diff = "" if o is None else ("equal" if o["value"] == p["value"] else
                                         f"differ by {int(o['value'] - p['value']):+,}")
            counts.append([system, config, part, device, NOT_MEASURED if o is None else f"{int(o['value']):,}",
                           f"{int(p['value']):,}", diff])
            continue
        if name not in GOALS:
            continue
        if critic is not None:
            o = critics.get((h, critic, key_of(p))) if h is not None else None
        else:
            o = by_hash.get(h, {}).get(key_of(p)) if h is not None else None
        if o is None:
            timing.append([system, config, part, device, precision, what_of(name, size, batch), NOT_MEASURED,
                           f"{p['value']:.2f}", "–", "–", p["torch_version"], "–"])
            continue
        way = ours_way(o, taps=False)
        if param(o["params"], "threads") != param(p["params"], "threads"):
            way += f" (threads: ours {param(o['params'], 'threads')}, reference {param(p['params'], 'threads')})"
        if not p["config_hash"]:
            way += " (paired by name)"
        timing.append([system, config, part, device, precision, what_of(name, size, batch), f"{o['value']:.2f}",
                       f"{p['value']:.2f}", f"{p['value'] / o['value']:.2f}x", o["torch_version"], p["torch_version"],
                       way])
    return timing, counts


def latest_by(rows):
    """(config_hash, device) -> the newest row."""
    out = {}
    for r in rows:
        out[(r["config_hash"], r["device"])] = r
    return out


def emit(fmt, header, lines):
    if fmt == "csv":
        print(",".join(header))
        for line in lines:
            print(",".join('"' + c + '"' if "," in c else c for c in line))
    else:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in lines:
            print("| " + " | ".join(line) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", default="results/runs.sqlite")
    ap.add_argument("--device", default="", help="only devices whose text contains this")
    ap.add_argument("--format", choices=["md", "csv"], default="md")
    args = ap.parse_args()
    try:
        con = sqlite3.connect(f"file:{args.store}?mode=ro", uri=True)
        con.row_factory = sqlite3.Row
        rows = con.execute("SELECT * FROM benchmarks WHERE bench IN ('model', 'peer') AND name IN "
                           "('latency_ms', 'fwd_bwd_ms', 'compile_s', 'parameters', 'critic_fwd_bwd_ms', 'critic_parameters') "
                           "ORDER BY id").fetchall()
    except sqlite3.Error as e:
        sys.exit(f"peer_compare: cannot read {args.store}: {e}")
    rows = [r for r in rows if args.device in r["device"]]
    ref_rows = [r for r in rows if r["bench"] == "peer" and param(r["params"], "impl") == "reference"]
    claimed = {r["config_hash"] for r in ref_rows if r["config_hash"]}
    model_rows = [r for r in rows if r["bench"] == "model"]
    ours_dmgn = [r for r in model_rows if r["name"] in GOALS and not is_other_system(r, claimed)]
    peer_dmgn = [r for r in rows if r["bench"] == "peer" and param(r["params"], "impl") != "reference"]
    lines = dmgn_lines(ours_dmgn, peer_dmgn)
    if not lines and not ref_rows:
        sys.exit(f"peer_compare: no measurement in {args.store} has both a 'model' and a 'peer' row on the same "
                 "device (run dmgn bench model and tools/peer_bench.py with the same sizes and batch)")
    if lines:
        emit(args.format, ["device", "precision", "measurement", "ours ms", "official ms", "speed-up", "goal", "met",
                           "ours torch", "official torch", "ours way"], lines)
    if ref_rows:
        timing, counts = system_lines(model_rows, ref_rows)
        if lines:
            print()
        emit(args.format, ["system", "config", "part", "device", "precision", "measurement", "ours ms",
                           "reference ms", "speed-up", "ours torch", "reference torch", "ours way"], timing)
        if counts:
            print()
            emit(args.format, ["system", "config", "part", "device", "ours parameters", "reference parameters",
                               ""], counts)


if __name__ == "__main__":
    main()
