#!/usr/bin/python3
"""Ours vs the official DMGN code: speed ratios from the run store.

Usage:
  python3 tools/peer_compare.py [--store results/runs.sqlite] [--device SUBSTRING]
      [--format md|csv]

Pairs the latest `dmgn bench model` rows (bench 'model') with the latest rows that
tools/peer_bench.py wrote (bench 'peer') on the same device (the benchmarks table's `device`
text), per precision and measurement: inference latency per size, and forward+backward at the
same batch and size. Of ours, the fastest of the latest rows per way of running (eager or CUDA
graph, contiguous or channels-last, runtime.head_taps) is compared, and named. speed-up = official time / our
time. The goals: inference >= 2x, forward+backward (the training step's work) >= 1.5x. Exits 1
when no pair is found.
"""
import argparse
import re
import sqlite3
import sys

GOALS = {"latency_ms": 2.0, "fwd_bwd_ms": 1.5}


def param(params, key):
    m = re.search(r'(?:^| )' + re.escape(key) + r'=("[^"]*"|\S+)', params)
    if not m:
        return None
    v = m.group(1)
    return v[1:-1] if v.startswith('"') else v


def key_of(r):
    return (r["device"], param(r["params"], "precision") or "fp32", r["name"], param(r["params"], "size"),
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
                           "('latency_ms', 'fwd_bwd_ms') ORDER BY id").fetchall()
    except sqlite3.Error as e:
        sys.exit(f"peer_compare: cannot read {args.store}: {e}")
    rows = [r for r in rows if args.device in r["device"]]
    ours = fastest_of_latest(r for r in rows if r["bench"] == "model")
    peer = latest(r for r in rows if r["bench"] == "peer")
    pairs = sorted(k for k in ours if k in peer)
    if not pairs:
        sys.exit(f"peer_compare: no measurement in {args.store} has both a 'model' and a 'peer' row on the same "
                 "device (run dmgn bench model and tools/peer_bench.py with the same sizes and batch)")
    header = ["device", "precision", "measurement", "ours ms", "official ms", "speed-up", "goal", "met",
              "ours torch", "official torch", "ours way"]
    lines = []
    for key in pairs:
        device, precision, name, size, batch = key
        o, p = ours[key], peer[key]
        what = f"inference 1x{size}^2" if name == "latency_ms" else f"fwd+bwd {batch}x{size}^2"
        ratio = p["value"] / o["value"]
        goal = GOALS[name]
        lines.append([device, precision, what, f"{o['value']:.2f}", f"{p['value']:.2f}", f"{ratio:.2f}x",
                      f">= {goal:g}x", "yes" if ratio >= goal else "no", o["torch_version"], p["torch_version"],
                      "{} {} head-taps:{}".format(param(o["params"], "mode") or "eager",
                                                  "channels-last" if param(o["params"], "channels_last") == "1"
                                                  else "contiguous", param(o["params"], "head_taps") or "never")])
    if args.format == "csv":
        print(",".join(header))
        for line in lines:
            print(",".join('"' + c + '"' if "," in c else c for c in line))
    else:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in lines:
            print("| " + " | ".join(line) + " |")


if __name__ == "__main__":
    main()
