#!/usr/bin/python3
"""Fig. 6 of the DMGN paper: test PSNR / SSIM as a function of the loss weights alpha_p and
alpha_adv (alpha_L1 = 1).

Reads completed runs of the sweep from the SQLite run store, takes alpha_p =
loss.terms.p_r.weight and alpha_adv = loss.terms.adv_r.weight from each run's config_text,
the test PSNR and SSIM at the run's highest test step on one test dataset, and aggregates
over seeds per (alpha_p, alpha_adv): mean, sample standard deviation (ddof=1; no error bar
for n=1) and n.

Writes OUT/fig6.png, OUT/fig6.pdf (2x2 panels: PSNR and SSIM vs alpha_p, one line per
alpha_adv, and vs alpha_adv, one line per alpha_p) and OUT/fig6.csv (the aggregated grid).

x axis: the weights include 0 (the "w/o L_p" / "w/o L_adv" rows of Table I), which a log axis
cannot show, so the default is a symlog axis whose linear part ends at the smallest positive
weight on that axis: 0 sits at the left, positive weights are log-spaced, and the ticks are
the swept values.  Without a 0 on an axis a plain log axis is used; --xscale linear forces a
linear axis.
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import FigureError, note  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

PROG = "fig6.py"
# The weights of DMGN's refine-phase terms ([loss.terms.*]); runs logged before loss terms came
# from config (issue 15) name them loss.refine.*, read as a fallback.
KEY_P = ("loss.terms.p_r.weight", "loss.refine.perceptual")
KEY_ADV = ("loss.terms.adv_r.weight", "loss.refine.adversarial")
KEY_L1 = ("loss.terms.l1_r.weight", "loss.refine.l1")


def weight(cfg, keys, run_id):
    """The first of `keys` the run's config has, as a float (FigureError when none is a number)."""
    for k in keys[:-1]:
        try:
            return common.config_float(cfg, k, run_id)
        except FigureError:
            pass
    return common.config_float(cfg, keys[-1], run_id)
PAPER_P, PAPER_ADV = 0.1, 0.01  # Sec. IV-A, Implementation Details
METRICS = ("psnr", "ssim", "psnr_input", "ssim_input")


def parse_args():
    p = common.make_parser(PROG, __doc__.split("\n\n")[0])
    common.add_run_filters(p, experiment_default="fig6")
    p.add_argument("--dataset", default=None,
                   help="test dataset to plot (default: the one with test metrics in most runs)")
    p.add_argument("--xscale", default="symlog", choices=("symlog", "linear"),
                   help="x axis (default symlog: 0 shown, positive weights log-spaced)")
    p.add_argument("--input-baseline", action="store_true",
                   help="also draw the input (identity) PSNR/SSIM as a dashed line")
    p.add_argument("--stem", default="fig6", help="file stem (default fig6)")
    common.add_figure_options(p)
    args = p.parse_args()
    common.check_ranges(p, args)
    return args


def collect(store, args):
    runs = store.select(args, what="runs for Fig. 6")
    rows = []
    for run in runs:
        cfg = common.run_config(run)
        ap = weight(cfg, KEY_P, run["id"])
        aadv = weight(cfg, KEY_ADV, run["id"])
        try:
            al1 = weight(cfg, KEY_L1, run["id"])
        except FigureError:
            al1 = math.nan
        seed = cfg.get("run", {}).get("seed", run.get("seed"))
        rows.append({"run": run, "alpha_p": ap, "alpha_adv": aadv, "alpha_l1": al1, "seed": seed,
                     "test": store.metrics(run["id"], split="test", names=list(METRICS))})
    dataset = common.choose_test_dataset(store, rows, args.dataset)
    # per run: metrics at the highest test step of that dataset
    points = common.points_at_last_test_step(store, rows, dataset, METRICS, lambda r: (r["alpha_p"], r["alpha_adv"], r["seed"]),
                                             lambda k: f"alpha_p={k[0]:g} alpha_adv={k[1]:g} seed={k[2]}")
    return dataset, points


def aggregate(points):
    groups = {}
    for p in points:
        groups.setdefault((p["alpha_p"], p["alpha_adv"]), []).append(p)
    grid = []
    for (ap, aadv), ps in sorted(groups.items()):
        ps.sort(key=lambda p: (str(p["seed"]), p["run"]["id"]))
        g = {"alpha_p": ap, "alpha_adv": aadv,
             "seeds": [p["seed"] for p in ps], "run_ids": [p["run"]["id"] for p in ps],
             "steps": sorted({p["step"] for p in ps})}
        g.update(common.seed_statistics(ps, METRICS))
        g["n"] = len(ps)
        grid.append(g)
    return grid


def write_csv(grid, dataset, out_dir, stem):
    cols = ["dataset", "alpha_p", "alpha_adv", "n", "seeds", "run_ids", "steps",
            "psnr_mean", "psnr_std", "ssim_mean", "ssim_std", "psnr_input_mean", "ssim_input_mean"]
    common.write_csv(out_dir, stem, cols, [[dataset, f"{g['alpha_p']:g}", f"{g['alpha_adv']:g}"] +
                                           common.seed_columns(g) for g in grid])


def set_xaxis(ax, values, scale, label):
    values = sorted(set(values))
    pos = [v for v in values if v > 0]
    if scale == "symlog" and pos:
        if min(values) <= 0:
            ax.set_xscale("symlog", linthresh=min(pos), linscale=0.6)
            label += f"  (symlog axis: linear below {min(pos):g})"
        else:
            ax.set_xscale("log")
            label += "  (log axis)"
    ax.set_xticks(values)
    ax.set_xticklabels([f"{v:g}" for v in values])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    if len(values) == 1:
        v = values[0]
        if scale == "linear" or v <= 0:
            pad = abs(v) * 0.5 if v else 1.0
            ax.set_xlim(v - pad, v + pad)
        else:
            ax.set_xlim(v / 3, v * 3)
    ax.set_xlabel(label)


def n_label(ns):
    ns = sorted(set(ns))
    return f"n={ns[0]}" if len(ns) == 1 else f"n={ns[0]}–{ns[-1]}"


def panel(ax, grid, metric, xkey, lkey, xlabel, llabel, paper_x, paper_l, args):
    scale, baseline = args.xscale, args.input_baseline
    xs_all = sorted({g[xkey] for g in grid})
    lines = sorted({g[lkey] for g in grid})
    cmap = plt.get_cmap("viridis")
    for i, lv in enumerate(lines):
        gs = sorted((g for g in grid if g[lkey] == lv), key=lambda g: g[xkey])
        x = np.array([g[xkey] for g in gs])
        y = np.array([g[metric + "_mean"] for g in gs])
        e = np.array([g[metric + "_std"] for g in gs])
        e = np.where(np.isfinite(e), e, 0.0)
        colour = cmap(0.85 * i / max(1, len(lines) - 1)) if len(lines) > 1 else "C0"
        is_paper = math.isclose(lv, paper_l, rel_tol=1e-9, abs_tol=1e-12)
        ax.errorbar(x, y, yerr=e, marker="o", ms=4, capsize=3, color=colour,
                    lw=2.2 if is_paper else 1.2,
                    label=f"{llabel}={lv:g} ({n_label([g[metric + '_n'] for g in gs])})" +
                    (" (paper)" if is_paper else ""))
    ax.axvline(paper_x, color="0.45", ls=":", lw=1.2, zorder=0,
               label=f"paper default {xlabel}={paper_x:g}")
    for g in grid:
        if (math.isclose(g["alpha_p"], PAPER_P, rel_tol=1e-9) and
                math.isclose(g["alpha_adv"], PAPER_ADV, rel_tol=1e-9) and
                math.isfinite(g[metric + "_mean"])):
            ax.plot([g[xkey]], [g[metric + "_mean"]], marker="*", ms=13, color="crimson",
                    ls="none", zorder=5, label=r"paper default ($\alpha_p$=0.1, $\alpha_{adv}$=0.01)")
    if baseline:
        b = np.array([g[metric + "_input_mean"] for g in grid])
        b = b[np.isfinite(b)]
        if len(b):
            ax.axhline(float(b.mean()), color="0.3", ls="--", lw=1, label="input (identity)")
            lo, hi = ax.get_ylim()  # the input inside the axis even where the runs are all above it
            margin = 0.05 * (max(hi, b.mean()) - min(lo, b.mean()))
            ax.set_ylim(min(lo, b.mean() - margin), max(hi, b.mean() + margin))
    common.apply_range(ax, metric, args)
    set_xaxis(ax, xs_all, scale, xlabel)
    ax.set_ylabel("PSNR (dB)" if metric == "psnr" else "SSIM")
    ax.grid(True, alpha=0.3)


def main():
    args = parse_args()
    store = common.Store(args.store)
    dataset, points = collect(store, args)
    grid = aggregate(points)
    common.ensure_out(args.out)

    l1s = sorted({p["alpha_l1"] for p in points if math.isfinite(p["alpha_l1"])})
    if l1s == [1.0] or not l1s:
        l1_text = r"$\alpha_{L1}$ = 1"
    else:
        l1_text = r"$\alpha_{L1}$ = " + ", ".join(f"{v:g}" for v in l1s) + " (paper: 1)"
        note(f"runs use loss.terms.l1_r.weight = {', '.join(f'{v:g}' for v in l1s)}, not 1 as in Fig. 6")
    seeds = sorted({str(p["seed"]) for p in points})
    xp, xadv = r"$\alpha_p$", r"$\alpha_{adv}$"

    fig, axes = plt.subplots(2, 2, figsize=(11, 8.6), constrained_layout=True)
    for row, metric in enumerate(("psnr", "ssim")):
        panel(axes[row, 0], grid, metric, "alpha_p", "alpha_adv", xp, xadv, PAPER_P, PAPER_ADV, args)
        panel(axes[row, 1], grid, metric, "alpha_adv", "alpha_p", xadv, xp, PAPER_ADV, PAPER_P, args)
        axes[row, 0].set_title(f"{metric.upper()} vs {xp}")
        axes[row, 1].set_title(f"{metric.upper()} vs {xadv}")
    # one legend per column, below it: both rows of a column draw the same lines, and a
    # legend inside a panel hides points of a 3x3 or larger grid
    for col in range(2):
        handles, labels = axes[1, col].get_legend_handles_labels()
        axes[1, col].legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16),
                            ncol=2, frameon=False)
    fig.suptitle(f"DMGN loss-weight sensitivity (Fig. 6), {l1_text}; test set: {dataset}\n"
                 f"{len(points)} run{'s' * (len(points) != 1)}, {len(grid)} weight pair{'s' * (len(grid) != 1)}, "
                 f"seed{'s' * (len(seeds) != 1)} {', '.join(seeds)}; "
                 f"{common.n_words([g['psnr_n'] for g in grid])} (n per line in legend)\n"
                 f"{common.caption(store, points, dataset)}\n"
                 "the paper publishes Fig. 6 as curves only, without numbers: nothing of the paper's is drawn "
                 "but its default weights", fontsize=9)
    common.save_figure(fig, args.out, args.stem)
    write_csv(grid, dataset, args.out, args.stem)


if __name__ == "__main__":
    common.main_wrapper(PROG, main)
