#!/usr/bin/python3
"""Check of the figure scripts in reports/figures/ (fig6, sensitivity, curves, qualitative, masks).

Usage: /usr/bin/python3 tests/python/check_figures.py [REPO_ROOT]

Builds a small synthetic run store (runs / provenance / metrics / artifacts tables, only the
columns the scripts read) and two fake `dmgn visualize` dump folders plus a mask-less
"Base model" dump in a temporary folder, runs every script through sys.executable, and checks:
  * exit status 0 and every stdout line is "wrote PATH" for a file that exists;
  * PNG files: PNG signature, > 2 kB, IHDR width/height in a plausible range;
  * PDF files: start with %PDF- and end with %%EOF (trailing whitespace allowed);
  * fig6.csv: the aggregated 3x3 grid with n = 2 seeds and the expected means;
  * sensitivity.csv: lambda (loss.terms.content.weight) = 10, 50, 100 with n = 2 seeds each,
    the expected means / stds, and the paper's numbers from a temporary paper CSV (with
    quoted fields) joined on the x value;
  * masks as RGBA (matplotlib imsave) and as 8-bit grayscale PNGs (the C++ format);
  * CSV cells that a spreadsheet would evaluate as a formula start with ' (common.write_csv);
  * output is deterministic (the same bytes from two runs of fig6 and of sensitivity);
  * bad input (missing store, non-SQLite store, empty selection, unknown dataset / run,
    missing dump, dump without masks for masks.py, bad --sample, a --key missing from a run's
    config, a --paper-prefix no paper row has, a missing paper CSV) exits 1 with a single
    stderr line and no traceback.
Prints "ok N files" and exits 0 on success; prints "FAIL: ..." and exits 1 otherwise.
Exits 77 ("SKIP: ...") when numpy or matplotlib cannot be imported.
Set CHECK_FIGURES_KEEP=DIR to build everything under DIR (kept) instead of a temporary folder.
"""
import contextlib
import csv
import json
import math
import os
import sqlite3
import struct
import subprocess
import sys
import tempfile
import zlib

try:
    import numpy as np
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError as e:  # pragma: no cover - environment dependent
    print(f"SKIP: {sys.executable} cannot import numpy/matplotlib: {e}")
    sys.exit(77)

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FIGS = os.path.join(ROOT, "reports", "figures")
ALPHA_P = (0.0, 0.1, 1.0)
ALPHA_ADV = (0.0, 0.01, 0.1)
SEEDS = (0, 1)
SENS_KEY = "loss.terms.content.weight"
SENS_X = (10, 50, 100)
PAPER_LAMBDA = {10: (22.92, 0.6782), 20: (23.77, 0.7103), 50: (24.57, 0.7531),
                100: (24.55, 0.7488)}


class Fail(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise Fail(msg)


# ---------------------------------------------------------------- synthetic inputs

SCHEMA = """
CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '',
  experiment TEXT NOT NULL DEFAULT '', variant TEXT NOT NULL DEFAULT '',
  sweep TEXT NOT NULL DEFAULT '', task TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,
  seed INTEGER NOT NULL DEFAULT 0, started_at TEXT NOT NULL DEFAULT '',
  config_text TEXT NOT NULL DEFAULT '', run_dir TEXT NOT NULL DEFAULT '');
CREATE TABLE provenance (run_id INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL);
CREATE TABLE metrics (run_id INTEGER NOT NULL, step INTEGER NOT NULL, split TEXT NOT NULL,
  dataset TEXT NOT NULL DEFAULT '', name TEXT NOT NULL, value REAL,
  preset TEXT NOT NULL DEFAULT '');
CREATE TABLE artifacts (run_id INTEGER NOT NULL, kind TEXT NOT NULL, path TEXT NOT NULL);
"""


def config(ap, aadv, seed, experiment, variant):
    return (f'[loss.terms.adv_r]\nweight = {aadv!r}\n\n[loss.terms.l1_r]\nweight = 1.0\n\n'
            f'[loss.terms.p_r]\nweight = {ap!r}\n\n'
            f'[run]\nexperiment = "{experiment}"\nname = "synthetic"\nseed = {seed}\n'
            f'sweep = ""\nvariant = "{variant}"\n')


def expected_psnr(ap, aadv, seed):
    return 20.0 + 2.0 * ap - 10.0 * aadv + 0.1 * seed


def sens_psnr(x, seed):
    return 22.0 + 0.02 * x + 0.3 * seed


def sens_ssim(x, seed):
    return 0.7 + 0.001 * x + 0.01 * seed


def build_store(path):
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    rid = 0

    def add_run(experiment, variant, status, seed, cfg, name="synthetic", sweep=""):
        nonlocal rid
        rid += 1
        con.execute("INSERT INTO runs (id, name, experiment, variant, sweep, task, status, seed, "
                    "started_at, config_text) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (rid, name, experiment, variant, sweep, "reflection", status, seed,
                     "2024-01-01T00:00:00Z", cfg))
        con.execute("INSERT INTO provenance VALUES (?,?,?)", (rid, "steps", "200"))
        return rid

    def metric(run, step, split, dataset, name, value):
        con.execute("INSERT INTO metrics (run_id, step, split, dataset, name, value) "
                    "VALUES (?,?,?,?,?,?)", (run, step, split, dataset, name, value))

    for ap in ALPHA_P:
        for aadv in ALPHA_ADV:
            for seed in SEEDS:
                r = add_run("fig6", "DMGN", "completed", seed, config(ap, aadv, seed, "fig6", "DMGN"))
                p = expected_psnr(ap, aadv, seed)
                for step, scale in ((100, 0.5), (200, 1.0)):   # fig6 must take step 200
                    metric(r, step, "test", "real20", "psnr", p * scale)
                    metric(r, step, "test", "real20", "ssim", 0.8 + 0.05 * ap - aadv + 0.01 * seed)
                    metric(r, step, "test", "real20", "psnr_input", 18.5)
                    metric(r, step, "test", "real20", "ssim_input", 0.75)
                if ap == 0.1:                                  # a second, smaller test set
                    metric(r, 200, "test", "solid", "psnr", p - 1)
                    metric(r, 200, "test", "solid", "ssim", 0.7)
    # a failed fig6 run with an outlier: must be ignored
    r = add_run("fig6", "DMGN", "failed", 5, config(0.1, 0.01, 5, "fig6", "DMGN"))
    metric(r, 200, "test", "real20", "psnr", 99.0)

    curve_runs = []
    rng = np.random.RandomState(3)
    for seed in (0, 1):
        r = add_run("table1", "DMGN", "completed", seed, config(0.1, 0.01, seed, "table1", "DMGN"))
        curve_runs.append(r)
        for step in range(25, 801, 25):
            t = step / 800.0
            for name, base in (("loss", 0.6), ("l1_r", 0.2), ("p_r", 0.004), ("l1_c", 0.1),
                               ("p_c", 0.002), ("l1_n", 0.15), ("p_n", 0.003), ("d_loss", 1.0)):
                metric(r, step, "train", "builtin", name, base * (1.2 - t) * (1 + 0.2 * rng.rand()))
            metric(r, step, "train", "builtin", "adv_r", 0.004 * rng.randn())
            metric(r, step, "train", "builtin", "it_per_s", 1.7 + 0.1 * rng.rand())
        metric(r, 400, "train", "builtin", "p_n", None)   # a NaN (NULL) value
        for step in (200, 400, 600, 800):
            metric(r, step, "val", "builtin", "psnr", 19.8 + step / 1000)
            metric(r, step, "val", "builtin", "ssim", 0.80 + step / 40000)
            metric(r, step, "val", "builtin", "psnr_input", 19.5)
            metric(r, step, "val", "builtin", "ssim_input", 0.82)
        metric(r, 800, "test", "builtin", "psnr", 20.6)
        metric(r, 800, "test", "builtin", "ssim", 0.815)

    # a one-parameter sweep for sensitivity.py (Physics-GAN lambda = loss.terms.content.weight)
    sens_runs = []
    for x in SENS_X:
        for seed in SEEDS:
            cfg = (f'[loss.terms.content]\nweight = {x}\n\n[model]\nkind = "physics_gan"\n\n'
                   f'[run]\nexperiment = "sens"\nname = "synthetic"\nseed = {seed}\n'
                   f'sweep = "pgan_lambda"\nvariant = "lambda={x}"\n')
            r = add_run("sens", f"lambda={x}", "completed", seed, cfg, sweep="pgan_lambda")
            sens_runs.append(r)
            for step, scale in ((150, 0.5), (300, 1.0)):       # must take step 300
                metric(r, step, "test", "kodak24", "psnr", sens_psnr(x, seed) * scale)
                metric(r, step, "test", "kodak24", "ssim", sens_ssim(x, seed) * scale)
                metric(r, step, "test", "kodak24", "psnr_input", 20.0)
                metric(r, step, "test", "kodak24", "ssim_input", 0.6)
            if x == 50:                                        # a second, smaller test set
                metric(r, 300, "test", "faces", "psnr", 30.0)
                metric(r, 300, "test", "faces", "ssim", 0.9)
    con.commit()
    con.close()
    return curve_runs, sens_runs


def write_paper_csv(path):
    """A paper table in the reports/paper/*.csv format: other rows, quoted fields."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("method,dataset,psnr,ssim\n")
        f.write("Input,Blurred faces (160),18.00,0.5000\n")
        for x, (p, s) in sorted(PAPER_LAMBDA.items()):
            if x == 20:
                f.write(f'"lambda={x}","Blurred faces (160)","{p:.2f}",{s:.4f}\n')
            else:
                f.write(f"lambda={x},Blurred faces (160),{p:.2f},{s:.4f}\n")
        f.write("ResBlocks=9,Blurred faces (160),20.77,0.6005\n")


def write_gray_png(path, img):
    """8-bit grayscale PNG (colour type 0), the format `dmgn visualize` writes for masks."""
    a = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in a)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", a.shape[1], a.shape[0],
                                                                   8, 0, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def build_dump(folder, variant, run_id, with_masks=True, with_noise=True, n=3, n_coarse=6,
               n_refine=4, seed=0, gray_masks=False):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.RandomState(seed)
    h, w = 48, 64
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w]).reshape(2, 1, 1)
    samples = []
    for i in range(n):
        bg = np.stack([xx, yy, 0.5 + 0.3 * np.sin(6 * xx + i)], axis=2).clip(0, 1)
        refl = 0.3 * (np.sin(20 * (xx + yy) + i) > 0)[..., None] * np.array([1.0, 0.8, 0.6])
        inp = (0.8 * bg + refl).clip(0, 1)
        coarse = (bg + 0.05 * rng.randn(h, w, 3)).clip(0, 1)
        out = (bg + 0.02 * rng.randn(h, w, 3)).clip(0, 1)
        s = {"id": f"img{i:02d}", "input": f"{i:03d}_input.png", "coarse": f"{i:03d}_coarse.png",
             "background": f"{i:03d}_background.png",
             "noise": f"{i:03d}_noise.png" if with_noise else None,
             "target": f"{i:03d}_target.png", "psnr": 24.0 + i, "ssim": 0.9 - 0.01 * i,
             "psnr_input": 18.0 + i, "ssim_input": 0.8 - 0.01 * i,
             "coarse_masks": [], "refine_masks": [], "coarse_mask_means": [],
             "refine_mask_means": []}
        for key, img in (("input", inp), ("coarse", coarse), ("background", out), ("target", bg)):
            plt.imsave(os.path.join(folder, s[key]), img)
        if with_noise:
            plt.imsave(os.path.join(folder, s["noise"]), np.repeat(refl.mean(axis=2, keepdims=True) * 3, 3, 2).clip(0, 1))
        if with_masks:
            for group, count in (("coarse", n_coarse), ("refine", n_refine)):
                for k in range(count):
                    level = 0.8 * (1 - k / count)
                    mask = (level * (0.6 + 0.4 * np.cos(8 * xx + k) * np.cos(5 * yy))).clip(0, 1)
                    name = f"{i:03d}_mask_{group}_{k:02d}.png"
                    if gray_masks:
                        write_gray_png(os.path.join(folder, name), mask)
                    else:
                        plt.imsave(os.path.join(folder, name), mask, cmap="gray", vmin=0, vmax=1)
                    s[f"{group}_masks"].append(name)
                    s[f"{group}_mask_means"].append(float(mask.mean()))
        samples.append(s)
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump({"checkpoint": f"results/runs/{run_id:05d}/ckpt_800.pt", "run_id": run_id,
                   "variant": variant, "step": 800, "dataset": "builtin", "samples": samples},
                  f, indent=1)


# ---------------------------------------------------------------- running and checking


def run(script, *args):
    cmd = [sys.executable, os.path.join(FIGS, script), *map(str, args)]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ, MPLBACKEND="Agg"), timeout=600)
    return p


def run_ok(script, *args):
    p = run(script, *args)
    where = f"{script} {' '.join(map(str, args))}"
    expect(p.returncode == 0, f"{where}: exit {p.returncode}: {p.stderr.strip()[-800:]}")
    expect("Traceback" not in p.stderr, f"{where}: traceback on stderr: {p.stderr[-800:]}")
    paths = []
    for line in p.stdout.splitlines():
        expect(line.startswith("wrote "), f"{where}: unexpected stdout line {line!r}")
        path = line[len("wrote "):]
        path = path if os.path.isabs(path) else os.path.join(ROOT, path)
        expect(os.path.isfile(path), f"{where}: reported {path} does not exist")
        paths.append(path)
    expect(paths, f"{where}: wrote nothing")
    return paths


def run_bad(script, *args, contains=None):
    """contains: a string or a list of strings the error line must all name."""
    p = run(script, *args)
    where = f"{script} {' '.join(map(str, args))}"
    expect(p.returncode == 1, f"{where}: expected exit 1, got {p.returncode} ({p.stderr.strip()[-400:]})")
    expect("Traceback" not in p.stderr, f"{where}: traceback on stderr: {p.stderr[-800:]}")
    lines = [l for l in p.stderr.splitlines() if l.strip() and not l.startswith("note:")]
    expect(len(lines) == 1, f"{where}: expected one error line on stderr, got {lines!r}")
    expect(p.stdout.strip() == "", f"{where}: wrote to stdout on error: {p.stdout!r}")
    for c in ([contains] if isinstance(contains, str) else contains or []):
        expect(c in lines[0], f"{where}: error {lines[0]!r} does not name {c!r}")


def check_png(path):
    with open(path, "rb") as f:
        data = f.read()
    expect(data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: no PNG signature")
    expect(len(data) > 2000, f"{path}: only {len(data)} bytes")
    expect(data[12:16] == b"IHDR", f"{path}: first chunk is not IHDR")
    w, h = struct.unpack(">II", data[16:24])
    expect(200 <= w <= 10000 and 200 <= h <= 12000, f"{path}: implausible size {w}x{h}")
    return w, h


def check_pdf(path):
    with open(path, "rb") as f:
        data = f.read()
    expect(data.startswith(b"%PDF-"), f"{path}: does not start with %PDF-")
    expect(data.rstrip().endswith(b"%%EOF"), f"{path}: does not end with %%EOF")
    expect(len(data) > 1000, f"{path}: only {len(data)} bytes")
    expect(b"/CreationDate" not in data, f"{path}: has a CreationDate (not deterministic)")


def check_files(paths, stems):
    names = {os.path.basename(p) for p in paths}
    for stem in stems:
        for ext in ("png", "pdf"):
            expect(f"{stem}.{ext}" in names, f"{stem}.{ext} not reported (got {sorted(names)})")
    for p in paths:
        if p.endswith(".png"):
            check_png(p)
        elif p.endswith(".pdf"):
            check_pdf(p)


def check_fig6_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    expect(len(rows) == len(ALPHA_P) * len(ALPHA_ADV), f"{path}: {len(rows)} rows, expected 9")
    for r in rows:
        ap, aadv = float(r["alpha_p"]), float(r["alpha_adv"])
        expect(r["dataset"] == "real20", f"{path}: dataset {r['dataset']!r}, expected real20")
        expect(int(r["n"]) == len(SEEDS), f"{path}: n={r['n']} for ({ap}, {aadv})")
        want = [expected_psnr(ap, aadv, s) for s in SEEDS]
        expect(math.isclose(float(r["psnr_mean"]), float(np.mean(want)), abs_tol=1e-4),
               f"{path}: psnr_mean {r['psnr_mean']} for ({ap}, {aadv}), expected {np.mean(want)}")
        expect(math.isclose(float(r["psnr_std"]), float(np.std(want, ddof=1)), abs_tol=1e-4),
               f"{path}: psnr_std {r['psnr_std']} for ({ap}, {aadv})")


def check_sensitivity_csv(path, with_paper):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    xs = sorted(set(SENS_X) | (set(PAPER_LAMBDA) if with_paper else set()))
    expect([float(r["value"]) for r in rows] == [float(x) for x in xs],
           f"{path}: values {[r['value'] for r in rows]}, expected {xs}")
    for r in rows:
        x = float(r["value"])
        expect(r["key"] == SENS_KEY, f"{path}: key {r['key']!r}, expected {SENS_KEY}")
        if x in SENS_X:
            expect(int(r["n"]) == len(SEEDS), f"{path}: n={r['n']} for {x:g}")
            expect(r["seeds"] == ";".join(map(str, SEEDS)), f"{path}: seeds {r['seeds']!r} for {x:g}")
            expect(r["steps"] == "300", f"{path}: steps {r['steps']!r} for {x:g}, expected 300")
            for name, fn in (("psnr", sens_psnr), ("ssim", sens_ssim)):
                want = [fn(x, s) for s in SEEDS]
                expect(math.isclose(float(r[name + "_mean"]), float(np.mean(want)), abs_tol=1e-4),
                       f"{path}: {name}_mean {r[name + '_mean']} for {x:g}, expected {np.mean(want)}")
                expect(math.isclose(float(r[name + "_std"]), float(np.std(want, ddof=1)),
                                    abs_tol=1e-5),
                       f"{path}: {name}_std {r[name + '_std']} for {x:g}, "
                       f"expected {np.std(want, ddof=1)}")
            expect(math.isclose(float(r["psnr_input_mean"]), 20.0) and
                   math.isclose(float(r["ssim_input_mean"]), 0.6),
                   f"{path}: input means {r['psnr_input_mean']}, {r['ssim_input_mean']} for {x:g}")
        else:
            expect(r["n"] == "0" and r["psnr_mean"] == "" and r["run_ids"] == "",
                   f"{path}: paper-only value {x:g} has our numbers: {r}")
        if with_paper and x in PAPER_LAMBDA:
            p, s = PAPER_LAMBDA[int(x)]
            expect(math.isclose(float(r["paper_psnr"]), p) and
                   math.isclose(float(r["paper_ssim"]), s),
                   f"{path}: paper {r['paper_psnr']}, {r['paper_ssim']} for {x:g}, expected {p}, {s}")
        else:
            expect(r["paper_psnr"] == "" and r["paper_ssim"] == "",
                   f"{path}: paper numbers for {x:g} without a paper row")


def same_bytes(paths, again):
    expect(sorted(map(os.path.basename, paths)) == sorted(map(os.path.basename, again)),
           f"reruns wrote different files: {sorted(paths)} vs {sorted(again)}")
    for a, b in zip(sorted(paths), sorted(again)):
        with open(a, "rb") as fa, open(b, "rb") as fb:
            expect(fa.read() == fb.read(), f"{os.path.basename(a)} differs between two runs")


def check_csv_cells(tmp):
    """common.write_csv: text a spreadsheet would evaluate (dataset names, keys: user text) gets
    a leading ', numbers stay numbers (the rule of dmgn's report CSV)."""
    sys.path.insert(0, FIGS)
    try:
        import common
    finally:
        sys.path.pop(0)
    cells = [("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"), ("+1", "'+1"),
             ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("-0.5", "-0.5"),
             ("-1.5e+06", "-1.5e+06"), ("28.3", "28.3"), ("a=b", "a=b"), ("", "")]
    common.write_csv(tmp, "cells", ["=key", "value"], [[given, 3, -0.25] for given, _ in cells])
    with open(os.path.join(tmp, "cells.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    expect(rows[0] == ["'=key", "value"], f"cells.csv header {rows[0]!r}")
    for (given, want), row in zip(cells, rows[1:]):
        expect(row == [want, "3", "-0.25"], f"cells.csv: {given!r} written as {row!r}, expected {want!r}")
    expect(len(rows) == len(cells) + 1, f"cells.csv has {len(rows)} rows")


def main():
    n_files = 0
    keep = os.environ.get("CHECK_FIGURES_KEEP")
    if keep:
        os.makedirs(keep, exist_ok=True)
    with (contextlib.nullcontext(keep) if keep else
          tempfile.TemporaryDirectory(prefix="check_figures_")) as tmp:
        store = os.path.join(tmp, "runs.sqlite")
        curve_runs, sens_runs = build_store(store)
        paper_csv = os.path.join(tmp, "paper_table9.csv")
        write_paper_csv(paper_csv)
        d1 = os.path.join(tmp, "dump_dmgn")
        d2 = os.path.join(tmp, "dump_rdmc")
        d0 = os.path.join(tmp, "dump_base")
        build_dump(d1, "DMGN", 7, seed=1)
        build_dump(d2, "R-RDMC", 8, n_refine=0, seed=2, gray_masks=True)
        build_dump(d0, "Base model", 9, with_masks=False, with_noise=False, seed=3)
        out = os.path.join(tmp, "out")
        check_csv_cells(tmp)

        # fig6
        paths = run_ok("fig6.py", "--store", store, "--out", os.path.join(out, "fig6"))
        check_files(paths, ["fig6"])
        csvs = [p for p in paths if p.endswith(".csv")]
        expect(len(csvs) == 1, f"fig6.py reported {len(csvs)} csv files")
        check_fig6_csv(csvs[0])
        n_files += len(paths)
        again = run_ok("fig6.py", "--store", store, "--out", os.path.join(out, "fig6b"))
        same_bytes(paths, again)
        paths = run_ok("fig6.py", "--store", store, "--out", os.path.join(out, "fig6s"),
                       "--dataset", "solid", "--stem", "fig6_solid", "--xscale", "linear",
                       "--input-baseline")
        check_files(paths, ["fig6_solid"])
        n_files += len(paths)

        # sensitivity (one numeric config key, paper overlay on a twin axis)
        sens_args = ["--store", store, "--experiment", "sens", "--key", SENS_KEY,
                     "--xlabel", "lambda", "--paper-csv", paper_csv, "--paper-prefix", "lambda=",
                     "--mark", 50, "--input-baseline", "--stem", "pgan_lambda"]
        paths = run_ok("sensitivity.py", *sens_args, "--out", os.path.join(out, "sens"))
        check_files(paths, ["pgan_lambda"])
        csvs = [p for p in paths if p.endswith(".csv")]
        expect(len(paths) == 3 and len(csvs) == 1 and os.path.basename(csvs[0]) == "pgan_lambda.csv",
               f"sensitivity.py reported {[os.path.basename(p) for p in paths]}")
        check_sensitivity_csv(csvs[0], with_paper=True)
        n_files += len(paths)
        again = run_ok("sensitivity.py", *sens_args, "--out", os.path.join(out, "sensb"))
        same_bytes(paths, again)
        paths = run_ok("sensitivity.py", "--store", store, "--sweep", "pgan_lambda",
                       "--key", SENS_KEY, "--xscale", "log", "--out", os.path.join(out, "sens2"))
        check_files(paths, ["sensitivity"])
        check_sensitivity_csv([p for p in paths if p.endswith(".csv")][0], with_paper=False)
        n_files += len(paths)

        # sensitivity on Fig. 6's 2-D grid: refused without --by (never a silent slice), one curve
        # per alpha_adv with it; a fixed PSNR range
        run_bad("sensitivity.py", "--store", store, "--out", out, "--experiment", "fig6",
                "--key", "loss.terms.p_r.weight", contains=["loss.terms.adv_r.weight", "--by"])
        paths = run_ok("sensitivity.py", "--store", store, "--experiment", "fig6",
                       "--key", "loss.terms.p_r.weight", "--by", "loss.terms.adv_r.weight",
                       "--xscale", "linear", "--psnr-range", 10, 40, "--input-baseline",
                       "--out", os.path.join(out, "sens2d"))
        check_files(paths, ["sensitivity"])
        with open([p for p in paths if p.endswith(".csv")][0], newline="") as f:
            rows = list(csv.DictReader(f))
        expect(len(rows) == len(ALPHA_P) * len(ALPHA_ADV), f"2-D sensitivity.csv has {len(rows)} rows")
        expect({r["by_key"] for r in rows} == {"loss.terms.adv_r.weight"}, "2-D sensitivity.csv by_key")
        expect(sorted({float(r["by_value"]) for r in rows}) == sorted(ALPHA_ADV), "2-D sensitivity.csv by_value")
        expect(all(r["n"] == str(len(SEEDS)) for r in rows), "2-D sensitivity.csv n")
        n_files += len(paths)
        paths = run_ok("fig6.py", "--store", store, "--out", os.path.join(out, "fig6r"),
                       "--psnr-range", 10, 40, "--ssim-range", 0, 1, "--input-baseline")
        check_files(paths, ["fig6"])
        n_files += len(paths)
        run_bad("fig6.py", "--store", store, "--out", out, "--psnr-range", 30, 20, contains="--psnr-range")

        # curves
        paths = run_ok("curves.py", "--store", store, "--out", os.path.join(out, "curves"),
                       "--experiment", "table1")
        check_files(paths, [f"curves_run{r}" for r in curve_runs])
        n_files += len(paths)
        paths = run_ok("curves.py", "--store", store, "--out", os.path.join(out, "curves1"),
                       "--run", curve_runs[1])
        check_files(paths, [f"curves_run{curve_runs[1]}"])
        expect(len(paths) == 2, f"curves.py --run wrote {len(paths)} files, expected 2")
        n_files += len(paths)

        # qualitative
        paths = run_ok("qualitative.py", "--dump", d1, "--dump", d2, "--dump", d0,
                       "--out", os.path.join(out, "qual"), "--max-samples", 2)
        check_files(paths, ["qualitative_dmgn_run7", "qualitative_r-rdmc_run8",
                            "qualitative_base-model_run9", "qualitative_compare"])
        n_files += len(paths)

        # masks
        paths = run_ok("masks.py", "--dump", d1, "--out", os.path.join(out, "masks"))
        check_files(paths, ["masks_dmgn_run7"])
        n_files += len(paths)
        paths = run_ok("masks.py", "--dump", d1, "--dump", d2, "--sample", 2, "--max-cols", 4,
                       "--out", os.path.join(out, "masks2"))
        check_files(paths, ["masks_dmgn_run7", "masks_r-rdmc_run8", "masks_compare"])
        n_files += len(paths)

        # bad input: exit 1, one line, no traceback
        missing = os.path.join(tmp, "nope.sqlite")
        junk = os.path.join(tmp, "junk.sqlite")
        with open(junk, "w") as f:
            f.write("not a database\n" * 20)
        run_bad("fig6.py", "--store", missing, "--out", out, contains=missing)
        run_bad("fig6.py", "--store", junk, "--out", out, contains=junk)
        run_bad("curves.py", "--store", missing, "--out", out, contains=missing)
        run_bad("fig6.py", "--store", store, "--out", out, "--experiment", "nope", contains="nope")
        run_bad("fig6.py", "--store", store, "--out", out, "--dataset", "wild", contains="wild")
        run_bad("curves.py", "--store", store, "--out", out, "--experiment", "nope")
        run_bad("curves.py", "--store", store, "--out", out, "--run", 999, contains="999")
        run_bad("qualitative.py", "--dump", os.path.join(tmp, "nodump"), "--out", out,
                contains="nodump")
        run_bad("masks.py", "--dump", d0, "--out", out, contains=d0)
        run_bad("masks.py", "--dump", d1, "--dump", d0, "--out", out, contains=d0)
        run_bad("masks.py", "--dump", d1, "--sample", 3, "--out", out, contains="--sample")
        run_bad("fig6.py", "--store", store, "--out", out, "--bogus-option")
        run_bad("sensitivity.py", "--store", store, "--out", out, "--experiment", "sens",
                "--key", "model.blocks", contains=[f"run {sens_runs[0]}", "model.blocks"])
        run_bad("sensitivity.py", "--store", store, "--out", out, "--experiment", "sens",
                "--key", SENS_KEY, "--paper-csv", paper_csv, "--paper-prefix", "mu=",
                contains=[paper_csv, "mu="])
        run_bad("sensitivity.py", "--store", junk, "--out", out, "--key", SENS_KEY, contains=junk)
        run_bad("sensitivity.py", "--store", store, "--out", out, "--experiment", "sens",
                "--key", SENS_KEY, "--paper-csv", missing, "--paper-prefix", "lambda=",
                contains=missing)
        expect(not os.path.exists(os.path.join(out, "sensitivity.png")),
               "sensitivity.py wrote a figure on bad input")
        expect(not os.path.exists(os.path.join(out, "masks_base-model_run9.png")),
               "masks.py wrote a figure for the mask-less dump")
    print(f"ok {n_files} files")


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        print(f"FAIL: {e}")
        sys.exit(1)
    except subprocess.TimeoutExpired as e:
        print(f"FAIL: timed out: {e.cmd}")
        sys.exit(1)
