#!/usr/bin/python3
"""One-parameter sensitivity curves: test PSNR / SSIM as a function of one numeric config key.

Reads the selected runs from the SQLite run store, takes x = --key (a dotted config key, e.g.
loss.terms.content.weight for Physics-GAN's lambda or model.blocks for the number of
ResBlocks) from each run's config_text, the test PSNR and SSIM at the run's highest test step
on one test dataset, and aggregates over seeds per distinct x: mean, sample standard
deviation (ddof=1; no error bar for n=1) and n.

Optionally overlays a paper's numbers (--paper-csv FILE with the header method,dataset,psnr,ssim
and --paper-prefix P: the rows whose method is P followed by a number, e.g. "lambda=10") on a
right-hand twin y axis: the paper's data differ from ours, so only the shape of the curves is
comparable, not the level.

A sweep over two keys is drawn as one curve per value of the other (--by KEY), or refused: runs
with the same x and seed whose configs differ elsewhere name the differing keys in the error,
never a silent slice of the grid. The caption gives the steps, data, VGG weights and test
convention of the runs, n per point, and whether the paper's numbers are drawn.

Writes OUT/STEM.png, OUT/STEM.pdf (two panels: PSNR and SSIM vs x) and OUT/STEM.csv (one row
per x value, and --by value, of ours or the paper's).
"""
import csv
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import FigureError, note  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

PROG = "sensitivity.py"
METRICS = ("psnr", "ssim", "psnr_input", "ssim_input")
PAPER_COLUMNS = ("method", "dataset", "psnr", "ssim")
OURS_COLOUR, PAPER_COLOUR = "C0", "C1"


def parse_args():
    p = common.make_parser(PROG, __doc__.split("\n\n")[0])
    common.add_run_filters(p)
    p.add_argument("--key", required=True,
                   help="dotted numeric config key on the x axis (e.g. loss.terms.content.weight)")
    p.add_argument("--xlabel", default=None, help="x axis label (default: the key)")
    p.add_argument("--xscale", default="linear", choices=("linear", "log"),
                   help="x axis (default linear; log needs positive values)")
    p.add_argument("--dataset", default=None,
                   help="test dataset to plot (default: the one with test metrics in most runs)")
    p.add_argument("--paper-csv", default=None, metavar="FILE",
                   help="paper numbers (header method,dataset,psnr,ssim) drawn on a twin y axis")
    p.add_argument("--paper-prefix", default=None, metavar="P",
                   help="with --paper-csv: use the rows whose method is P followed by the x value "
                        "(e.g. lambda=)")
    p.add_argument("--mark", type=float, default=None, metavar="VALUE",
                   help="mark the paper's chosen value of the key by a vertical line")
    p.add_argument("--input-baseline", action="store_true",
                   help="also draw the input (identity) PSNR/SSIM as a dotted line")
    p.add_argument("--stem", default="sensitivity", help="file stem (default sensitivity)")
    p.add_argument("--title", default=None, help="figure title (first line)")
    p.add_argument("--by", default=None, metavar="KEY",
                   help="a second dotted config key: one curve per value of it (a 2-D sweep)")
    common.add_figure_options(p)
    args = p.parse_args()
    common.check_ranges(p, args)
    if args.by is not None and args.paper_csv is not None:
        p.error("--by and --paper-csv: the paper's numbers are one curve; draw them without --by")
    if args.paper_csv is not None and args.paper_prefix is None:
        p.error("--paper-csv needs --paper-prefix (e.g. --paper-prefix lambda=)")
    if args.paper_prefix is not None and args.paper_csv is None:
        p.error("--paper-prefix needs --paper-csv")
    if args.mark is not None and not math.isfinite(args.mark):
        p.error(f"--mark {args.mark} is not a finite number")
    if not args.key.strip() or any(not part for part in args.key.split(".")):
        p.error(f"--key {args.key!r} is not a dotted config key")
    return args


# ---------------------------------------------------------------- our runs


def flat(cfg, prefix=""):
    """{dotted key: value} of a config, its run identity and runtime tables left out."""
    out = {}
    for k, v in cfg.items():
        key = prefix + k
        if not prefix and k in ("run", "runtime"):
            continue
        if isinstance(v, dict):
            out.update(flat(v, key + "."))
        else:
            out[key] = v
    return out


def refuse_hidden_axes(rows, args):
    """Runs with the same x (and --by value) and seed whose configs differ in other keys: a
    second swept key the figure would silently slice. FigureError naming the keys."""
    groups = {}
    for r in rows:
        groups.setdefault((r["x"], r["by"], str(r["seed"])), []).append(r)
    for (x, by, seed), rs in groups.items():
        base = flat(rs[0]["cfg"])
        for r in rs[1:]:
            other = flat(r["cfg"])
            keys = sorted(k for k in set(base) | set(other) if base.get(k) != other.get(k))
            if keys:
                shown = ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")
                raise FigureError(
                    f"runs {rs[0]['run']['id']} and {r['run']['id']} both have {args.key}={x:g}"
                    f"{'' if args.by is None else f' {args.by}={by:g}'} and seed {seed} but differ in "
                    f"{shown}: the runs vary more than {args.key}; give --by {keys[0]} (one curve per "
                    "value) or select one slice with --sweep / --run")


def collect(store, args):
    runs = store.select(args, what="runs for the sensitivity curve")
    rows = []
    for run in runs:
        cfg = common.run_config(run)
        x = common.config_float(cfg, args.key, run["id"])
        if not math.isfinite(x):
            raise FigureError(f"run {run['id']}: config key {args.key} is not finite ({x!r})")
        by = common.config_float(cfg, args.by, run["id"]) if args.by else math.nan
        run_cfg = cfg.get("run")
        seed = run_cfg.get("seed", run.get("seed")) if isinstance(run_cfg, dict) else run.get("seed")
        rows.append({"run": run, "x": x, "by": by, "seed": seed, "cfg": cfg,
                     "test": store.metrics(run["id"], split="test", names=list(METRICS))})
    refuse_hidden_axes(rows, args)
    dataset = common.choose_test_dataset(store, rows, args.dataset)
    # per run: metrics at the highest test step of that dataset (a rerun of the same config
    # replaces the earlier run, with a note)
    points = common.points_at_last_test_step(
        store, rows, dataset, METRICS, lambda r: (r["x"], r["by"], str(r["seed"])),
        lambda k: f"{args.key}={k[0]:g}" + ("" if args.by is None else f" {args.by}={k[1]:g}") + f" seed={k[2]}")
    return dataset, points


def aggregate(points):
    groups = {}
    for p in points:
        groups.setdefault((p["by"], p["x"]), []).append(p)
    grid = []
    for (by, x), ps in sorted(groups.items(), key=lambda kv: (math.isnan(kv[0][0]), kv[0][0] if not
                                                                 math.isnan(kv[0][0]) else 0.0, kv[0][1])):
        ps.sort(key=lambda p: (str(p["seed"]), p["run"]["id"]))
        g = {"x": x, "by": by, "seeds": [p["seed"] for p in ps], "run_ids": [p["run"]["id"] for p in ps],
             "steps": sorted({p["step"] for p in ps}), "n": len(ps)}
        g.update(common.seed_statistics(ps, METRICS))
        grid.append(g)
    return grid


# ---------------------------------------------------------------- the paper's numbers


def paper_number(text, path, line, column):
    text = (text or "").strip()
    if not text:
        return math.nan
    try:
        v = float(text)
    except ValueError:
        raise FigureError(f"paper CSV {path} line {line}: {column} {text!r} is not a number")
    if not math.isfinite(v):
        raise FigureError(f"paper CSV {path} line {line}: {column} {text!r} is not finite")
    return v


def read_paper(path, prefix):
    """{'dataset': str, 'points': [(x, psnr, ssim)] sorted by x} from the rows of `path` whose
    method is `prefix` followed by a number; FigureError naming the file (and line / prefix)."""
    if not os.path.isfile(path):
        raise FigureError(f"paper CSV {path} does not exist")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            table = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise FigureError(f"paper CSV {path} cannot be read: {e}")
    if not table:
        raise FigureError(f"paper CSV {path} is empty")
    header = [h.strip() for h in table[0]]
    missing = [c for c in PAPER_COLUMNS if c not in header]
    if missing:
        raise FigureError(f"paper CSV {path}: header {','.join(header)!r} lacks "
                          f"{', '.join(missing)} (expected {','.join(PAPER_COLUMNS)})")
    col = {c: header.index(c) for c in PAPER_COLUMNS}
    matched, unparsed = [], []
    for i, row in enumerate(table[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise FigureError(f"paper CSV {path} line {i}: {len(row)} fields, the header has "
                              f"{len(header)}")
        method = row[col["method"]].strip()
        if not method.startswith(prefix):
            continue
        rest = method[len(prefix):].strip()
        try:
            x = float(rest)
        except ValueError:
            unparsed.append(method)
            continue
        if not math.isfinite(x):
            unparsed.append(method)
            continue
        matched.append((i, x, row[col["dataset"]].strip(),
                        paper_number(row[col["psnr"]], path, i, "psnr"),
                        paper_number(row[col["ssim"]], path, i, "ssim")))
    if unparsed:
        note(f"paper CSV {path}: rows {', '.join(repr(m) for m in unparsed)} start with "
             f"{prefix!r} but are not followed by a number (skipped)")
    if not matched:
        raise FigureError(f"paper CSV {path} has no row whose method is {prefix!r} followed by "
                          "a number")
    dataset = matched[0][2]
    others = sorted({m[2] for m in matched if m[2] != dataset})
    if others:
        note(f"paper CSV {path}: rows of dataset {dataset!r} used; others with prefix "
             f"{prefix!r}: {', '.join(others)}")
    seen, points = {}, []
    for line, x, ds, psnr, ssim in matched:
        if ds != dataset:
            continue
        for x0, line0 in seen.items():
            if math.isclose(x, x0, rel_tol=1e-9, abs_tol=1e-12):
                raise FigureError(f"paper CSV {path}: lines {line0} and {line} both give "
                                  f"{prefix}{x:g} for dataset {dataset!r}")
        seen[x] = line
        points.append((x, psnr, ssim))
    points.sort()
    return {"dataset": dataset, "points": points}


def merge(grid, paper):
    """One row per x of ours or the paper's: ours (or None) plus paper_psnr / paper_ssim."""
    rows = [{"x": g["x"], "by": g["by"], "ours": g, "paper_psnr": math.nan, "paper_ssim": math.nan}
            for g in grid]
    for x, psnr, ssim in (paper["points"] if paper else []):
        for r in rows:
            if math.isclose(r["x"], x, rel_tol=1e-9, abs_tol=1e-12):
                break
        else:
            r = {"x": x, "by": math.nan, "ours": None}
            rows.append(r)
        r["paper_psnr"], r["paper_ssim"] = psnr, ssim
    rows.sort(key=lambda r: (0.0 if math.isnan(r["by"]) else r["by"], r["x"]))
    return rows


# ---------------------------------------------------------------- output


def write_csv(rows, key, by_key, out_dir, stem):
    cols = ["key", "value", "n", "seeds", "run_ids", "steps", "psnr_mean", "psnr_std",
            "ssim_mean", "ssim_std", "psnr_input_mean", "ssim_input_mean", "paper_psnr",
            "paper_ssim", "by_key", "by_value"]
    num = common.csv_number
    out = []
    for r in rows:
        ours = [0, "", "", ""] + [""] * 6 if r["ours"] is None else common.seed_columns(r["ours"])
        out.append([key, f"{r['x']:g}"] + ours + [num(r["paper_psnr"]), num(r["paper_ssim"])] +
                   ([by_key, f"{r['by']:g}"] if by_key else ["", ""]))
    common.write_csv(out_dir, stem, cols, out)


def n_label(ns):
    ns = sorted(set(ns))
    if not ns:
        return "n=0"
    return f"n={ns[0]}" if len(ns) == 1 else f"n={ns[0]}–{ns[-1]}"


def set_xaxis(ax, values, scale, label):
    values = sorted(set(values))
    if scale == "log":
        ax.set_xscale("log")
        label += "  (log axis)"
    if len(values) <= 16:
        ax.set_xticks(values)
        ax.set_xticklabels([f"{v:g}" for v in values])
        ax.xaxis.set_minor_locator(plt.NullLocator())
    if len(values) == 1:
        v = values[0]
        if scale == "linear":
            pad = abs(v) * 0.5 if v else 1.0
            ax.set_xlim(v - pad, v + pad)
        else:
            ax.set_xlim(v / 3, v * 3)
    ax.set_xlabel(label)


def panel(ax, grid, paper, metric, args, xlabel, dataset, baseline):
    handles = []
    unit = "PSNR (dB)" if metric == "psnr" else "SSIM"
    bys = sorted({g["by"] for g in grid}, key=lambda v: 0.0 if math.isnan(v) else v)
    cmap = plt.get_cmap("viridis")
    xs = []
    for i, by in enumerate(bys):
        gs = [g for g in grid if g["by"] == by or (math.isnan(by) and math.isnan(g["by"]))]
        x = np.array([g["x"] for g in gs])
        y = np.array([g[metric + "_mean"] for g in gs])
        e = np.array([g[metric + "_std"] for g in gs])
        e = np.where(np.isfinite(e), e, 0.0)
        ok = np.isfinite(y)
        ns = [g[metric + "_n"] for g in gs if g[metric + "_n"]]
        colour = OURS_COLOUR if len(bys) == 1 else cmap(0.85 * i / (len(bys) - 1))
        label = f"ours ({dataset}, {n_label(ns)})" if math.isnan(by) else f"{args.by}={by:g} ({n_label(ns)})"
        handles.append(ax.errorbar(x[ok], y[ok], yerr=e[ok], marker="o", ms=5, capsize=3, lw=1.6,
                                   color=colour, ls="-", label=label))
        xs += list(x[ok])
    if baseline is not None and math.isfinite(baseline):
        digits = 2 if metric == "psnr" else 4
        handles.append(ax.axhline(baseline, color="0.3", ls=":", lw=1.2,
                                  label=f"ours: input (identity) = {baseline:.{digits}f}"))
        lo, hi = ax.get_ylim()  # the input inside the axis even where every run is above it
        margin = 0.05 * (max(hi, baseline) - min(lo, baseline))
        ax.set_ylim(min(lo, baseline - margin), max(hi, baseline + margin))
    if paper is not None:   # two y axes: colour each like its line
        ax.set_ylabel(f"ours: test {unit}", color=OURS_COLOUR)
        ax.tick_params(axis="y", colors=OURS_COLOUR)
    else:
        ax.set_ylabel(f"test {unit}")
    common.apply_range(ax, metric, args)
    if paper is not None:
        pts = [(px, (pp if metric == "psnr" else ps)) for px, pp, ps in paper["points"]]
        pts = [(px, py) for px, py in pts if math.isfinite(py)]
        if pts:
            ax2 = ax.twinx()
            h2, = ax2.plot([p[0] for p in pts], [p[1] for p in pts], ls="--", marker="s", ms=4,
                           lw=1.4, color=PAPER_COLOUR, label=f"paper ({paper['dataset']})")
            handles.append(h2)
            ax2.set_ylabel(f"paper: {unit} (own data, own scale)", color=PAPER_COLOUR)
            ax2.tick_params(axis="y", colors=PAPER_COLOUR)
            xs += [p[0] for p in pts]
        else:
            note(f"paper CSV {args.paper_csv}: no {metric} values for {args.paper_prefix!r}")
    if args.mark is not None:
        handles.append(ax.axvline(args.mark, color="0.4", ls="-.", lw=1.0, zorder=0,
                                  label=f"paper's choice {xlabel}={args.mark:g}"))
        xs.append(args.mark)
    set_xaxis(ax, xs, args.xscale, xlabel)
    ax.grid(True, alpha=0.3)
    ax.set_title(f"{metric.upper()} vs {xlabel}")
    return handles


def main():
    args = parse_args()
    store = common.Store(args.store)
    paper = read_paper(args.paper_csv, args.paper_prefix) if args.paper_csv else None
    dataset, points = collect(store, args)
    grid = aggregate(points)
    rows = merge(grid, paper)
    xlabel = args.xlabel or args.key
    if args.xscale == "log":
        bad = [r["x"] for r in rows if r["x"] <= 0] + \
              ([args.mark] if args.mark is not None and args.mark <= 0 else [])
        if bad:
            raise FigureError(f"--xscale log needs positive values of {args.key} "
                              f"(got {', '.join(f'{v:g}' for v in sorted(set(bad)))})")
    common.ensure_out(args.out)

    baselines = {}
    for metric in ("psnr", "ssim"):
        b = np.array([p[metric + "_input"] for p in points], dtype=np.float64)
        b = b[np.isfinite(b)]
        baselines[metric] = float(b.mean()) if len(b) else math.nan
    if args.input_baseline and not all(math.isfinite(v) for v in baselines.values()):
        note(f"no test psnr_input/ssim_input for dataset {dataset!r}: input baseline not drawn")

    seeds = sorted({str(p["seed"]) for p in points})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.9), constrained_layout=True)
    for ax, metric in zip(axes, ("psnr", "ssim")):
        handles = panel(ax, grid, paper, metric, args, xlabel, dataset,
                        baselines[metric] if args.input_baseline else None)
        # below the panel: inside it, the legend would hide points of one of the two axes
        ax.legend(handles, [h.get_label() for h in handles], loc="upper center",
                  bbox_to_anchor=(0.5, -0.17), ncol=2, frameon=False)
    title = args.title or f"Sensitivity to {xlabel}; test set: {dataset}"
    fig.suptitle(f"{title}\n"
                 f"{len(points)} run{'s' * (len(points) != 1)}, "
                 f"{len({g['x'] for g in grid})} value{'s' * (len({g['x'] for g in grid}) != 1)} "
                 f"of {args.key}, seed{'s' * (len(seeds) != 1)} {', '.join(seeds)}; "
                 f"{common.n_words([g['psnr_n'] for g in grid])}" +
                 ("" if args.by is None else f"; one curve per {args.by}") + "\n" +
                 f"{common.caption(store, points, dataset)}\n" +
                 ("paper on the right axis (its own data: compare shapes, not levels)" if paper else
                  "no paper numbers drawn (--paper-csv)"), fontsize=9)
    common.save_figure(fig, args.out, args.stem)
    write_csv(rows, args.key, args.by, args.out, args.stem)


if __name__ == "__main__":
    common.main_wrapper(PROG, main)
