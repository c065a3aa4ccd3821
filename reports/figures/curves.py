#!/usr/bin/python3
"""Training and validation curves, one figure per run: OUT/curves_run<ID>.png and .pdf.

Panels: (a) train loss terms whose logged values are all positive, log y; (b) train terms
that take values <= 0 (the critic-form adversarial terms adv_r and d_loss), linear y, or the
training throughput it/s when there are none; (c) val PSNR and (d) val SSIM vs step, one
colour per val dataset, with the input (identity) baseline psnr_input / ssim_input as a
dashed line of the same colour and the final test value(s) as stars.

Run selection: --run ID (repeatable; any status unless --status), or --experiment / --sweep
/ --status (default: all completed runs).
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import FigureError, note  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

PROG = "curves.py"
LOSS_ORDER = ["loss", "l1_r", "p_r", "adv_r", "l1_c", "p_c", "l1_n", "p_n", "d_loss"]
LOSS_LABEL = {
    "loss": "loss (total G)", "l1_r": "L1 refine", "p_r": "perceptual refine",
    "adv_r": "adversarial refine", "l1_c": "L1 coarse", "p_c": "perceptual coarse",
    "l1_n": "L1 noise", "p_n": "perceptual noise", "d_loss": "discriminator",
}
KIND_COLOUR = {"l1": "C0", "p": "C1", "adv": "C2"}
STAGE_STYLE = {"r": "-", "c": "--", "n": ":"}
VAL_NAMES = ("psnr", "ssim", "psnr_input", "ssim_input")


def parse_args():
    p = common.make_parser(PROG, __doc__.split("\n\n")[0])
    common.add_run_filters(p)
    return p.parse_args()


def style(name):
    if name == "loss":
        return {"color": "black", "lw": 1.8, "ls": "-"}
    if name == "d_loss":
        return {"color": "C3", "lw": 1.2, "ls": "-."}
    kind, _, stage = name.partition("_")
    if kind in KIND_COLOUR and stage in STAGE_STYLE:
        return {"color": KIND_COLOUR[kind], "lw": 1.2, "ls": STAGE_STYLE[stage]}
    return {"lw": 1.0, "ls": "-"}


def train_panels(ax_pos, ax_sgn, train):
    """train: {(dataset, name): (steps, values)}."""
    datasets = sorted({ds for ds, _ in train})
    multi = len(datasets) > 1
    pos, sgn, ips = [], [], []
    for (ds, name), (s, v) in train.items():
        if name == "it_per_s":
            ips.append((ds, s, v))
            continue
        fin = v[np.isfinite(v)]
        if not len(fin):
            continue
        (pos if (fin > 0).all() else sgn).append((ds, name, s, v))
    def key(t):
        return (t[0], LOSS_ORDER.index(t[1]) if t[1] in LOSS_ORDER else len(LOSS_ORDER), t[1])

    for ax, items, log in ((ax_pos, pos, True), (ax_sgn, sgn, False)):
        for ds, name, s, v in sorted(items, key=key):
            label = name if name == "loss" else f"{name} ({LOSS_LABEL.get(name, name)})"
            if name == "loss":
                label = "loss (total G)"
            ax.plot(s, v, label=label + (f" [{ds}]" if multi else ""), **style(name))
        if log and items:
            ax.set_yscale("log")
    ax_pos.set_title("train loss terms (log y)")
    ax_pos.set_xlabel("step")
    ax_pos.set_ylabel("loss")
    if pos:
        # below the axes: the terms span decades and any inside corner hides data
        ax_pos.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, frameon=False)
    else:
        ax_pos.text(0.5, 0.5, "no positive train loss terms logged", ha="center", va="center",
                    transform=ax_pos.transAxes, color="0.4")
    if sgn:
        ax_sgn.set_title("train terms taking values ≤ 0 (linear y)")
        ax_sgn.axhline(0, color="0.6", lw=0.8)
        ax_sgn.set_ylabel("loss")
        ax_sgn.legend(loc="best", framealpha=0.85)
    elif ips:
        for ds, s, v in ips:
            ax_sgn.plot(s, v, color="C4", lw=1.2, label=f"it/s [{ds}]" if multi else "it/s")
        ax_sgn.set_title("training throughput")
        ax_sgn.set_ylabel("iterations / s")
        ax_sgn.set_ylim(bottom=0)
    else:
        ax_sgn.text(0.5, 0.5, "no signed train terms / throughput logged", ha="center",
                    va="center", transform=ax_sgn.transAxes, color="0.4")
        ax_sgn.set_title("train terms taking values ≤ 0")
    ax_sgn.set_xlabel("step")
    for ax in (ax_pos, ax_sgn):
        ax.grid(True, which="major", alpha=0.3)
    ips_all = np.concatenate([v[np.isfinite(v)] for _, _, v in ips]) if ips else np.array([])
    return float(np.median(ips_all)) if len(ips_all) else math.nan


def val_panel(ax, val, test, metric):
    datasets = sorted({ds for ds, name in val if name in (metric, metric + "_input")} |
                      {ds for ds, name in test if name == metric})
    any_line = False
    for i, ds in enumerate(datasets):
        colour = f"C{i % 10}"
        if (ds, metric) in val:
            s, v = val[(ds, metric)]
            ax.plot(s, v, marker="o", ms=3.5, color=colour, lw=1.4, label=f"val {ds}")
            any_line = True
        if (ds, metric + "_input") in val:
            s, v = val[(ds, metric + "_input")]
            ax.plot(s, v, ls="--", lw=1.1, color=colour, label=f"input (identity) {ds}")
            any_line = True
        if (ds, metric) in test:
            s, v = test[(ds, metric)]
            ax.plot(s[-1:], v[-1:], marker="*", ms=11, ls="none", color=colour,
                    markeredgecolor="black", markeredgewidth=0.5, label=f"test {ds}")
            any_line = True
    ax.set_title(f"validation {metric.upper()}")
    ax.set_xlabel("step")
    ax.set_ylabel("PSNR (dB)" if metric == "psnr" else "SSIM")
    ax.grid(True, alpha=0.3)
    if any_line:
        ax.legend(loc="best", framealpha=0.85)
    else:
        ax.text(0.5, 0.5, f"no val {metric} logged", ha="center", va="center",
                transform=ax.transAxes, color="0.4")


def run_title(run, prov, ips):
    bits = [f"run {run['id']}"]
    if run.get("name"):
        bits.append(run["name"])
    what = "/".join(x for x in (run.get("experiment"), run.get("variant")) if x)
    if what:
        bits.append(what)
    if run.get("sweep"):
        bits.append(f"sweep {run['sweep']}")
    line1 = " — ".join(bits)
    extra = [f"status {run.get('status')}", f"seed {run.get('seed')}"]
    if run.get("task"):
        extra.append(f"task {run['task']}")
    if prov.get("steps"):
        extra.append(f"{prov['steps']} steps")
    if prov.get("epochs"):
        extra.append(f"{prov['epochs']} epochs")
    if prov.get("dataset"):
        extra.append(f"train data {prov['dataset']}")
    if math.isfinite(ips):
        extra.append(f"median {ips:.2f} it/s")
    if run.get("device"):
        extra.append(f"device {run['device']}")
    return line1 + "\n" + ", ".join(extra)


def main():
    args = parse_args()
    store = common.Store(args.store)
    runs = store.select(args)
    plotted = []  # (run, train, val, test) of the runs that have something to plot
    for run in runs:
        train = store.metrics(run["id"], split="train")
        val = store.metrics(run["id"], split="val", names=list(VAL_NAMES))
        test = store.metrics(run["id"], split="test", names=["psnr", "ssim"])
        if not train and not val:
            note(f"run {run['id']} skipped: no train or val metrics")
            continue
        plotted.append((run, train, val, test))
    if not plotted:
        raise FigureError(f"store {store.path}: none of the {len(runs)} selected run(s) has "
                          "train or val metrics")
    common.ensure_out(args.out)
    for run, train, val, test in plotted:
        fig, axes = plt.subplots(2, 2, figsize=(12, 8.4), constrained_layout=True)
        ips = train_panels(axes[0, 0], axes[0, 1], train)
        val_panel(axes[1, 0], val, test, "psnr")
        val_panel(axes[1, 1], val, test, "ssim")
        fig.suptitle(run_title(run, store.provenance(run["id"]), ips), fontsize=10)
        common.save_figure(fig, args.out, f"curves_run{run['id']}")


if __name__ == "__main__":
    common.main_wrapper(PROG, main)
