#!/usr/bin/python3
"""Qualitative grids from `dmgn visualize` dump folders (manifest.json + PNGs).

Per dump: OUT/qualitative_<variant-slug>_run<ID>.png/.pdf, one row per sample (up to
--max-samples), columns input / coarse background / refined background / noise layer /
ground truth; the input and refined panel titles carry PSNR / SSIM (input = identity
baseline).  A missing image (noise null: no noise branch) is an "n/a" panel.

With several --dump folders also OUT/qualitative_compare.png/.pdf: rows = sample ids present
in every dump (order of the first dump), columns input, each dump's refined output labelled
by its variant, ground truth.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import FigureError, fmt, note  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402

PROG = "qualitative.py"
COLUMNS = [("input", "input"), ("coarse", "coarse background"), ("background", "refined background"),
           ("noise", "noise layer"), ("target", "ground truth")]
PANEL_W = 2.1



def short_id(sample_id, width=28):
    """The last path component of a sample id, cut to fit beside a row of images."""
    text = str(sample_id).rsplit("/", 1)[-1]
    return text if len(text) <= width else "…" + text[-(width - 1):]

def parse_args():
    p = common.make_parser(PROG, __doc__.split("\n\n")[0], store=False)
    p.add_argument("--dump", action="append", required=True, metavar="DIR",
                   help="dump folder written by `dmgn visualize` (repeatable)")
    p.add_argument("--max-samples", type=int, default=6,
                   help="at most this many sample rows per figure (default 6)")
    a = p.parse_args()
    if a.max_samples < 1:
        p.error("--max-samples must be >= 1")
    return a


def scores(s, kind):
    if kind == "input":
        return f"PSNR {fmt(s.get('psnr_input'))} / SSIM {fmt(s.get('ssim_input'), 3)}"
    return f"PSNR {fmt(s.get('psnr'))} / SSIM {fmt(s.get('ssim'), 3)}"


def show(ax, img, title, shape=None):
    """imshow without ticks; img None -> grey "n/a" panel shaped like `shape` (h, w)."""
    if img is None:
        h, w = shape[:2] if shape is not None else (1, 1)
        ax.set_facecolor("0.92")
        ax.text(0.5, 0.5, "n/a", ha="center", va="center", transform=ax.transAxes,
                fontsize=12, color="0.4")
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        ax.set_aspect("equal")
    elif img.ndim == 2:
        ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(img.clip(0, 1), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=8)


def image(m, s, key):
    rel = s.get(key)
    if rel is None or rel == "":
        return None
    if not isinstance(rel, str):
        raise FigureError(f"{m['_path']}: sample {s['id']} key '{key}' is not a path")
    return common.read_image(m["_dir"], rel, key)


def header(m):
    bits = [f"variant {m.get('variant') or '?'}"]
    if m.get("run_id"):
        bits.append(f"run {m['run_id']}")
    if m.get("step"):
        bits.append(f"step {m['step']}")
    if m.get("dataset"):
        bits.append(f"dataset {m['dataset']}")
    ck = m.get("checkpoint")
    return ", ".join(bits) + (f"\ncheckpoint {os.path.basename(str(ck))}" if ck else "")


def per_dump(m, max_samples, out, stem):
    samples = m["samples"][:max_samples]
    # read everything first so a bad PNG fails before anything is written
    rows = []
    for s in samples:
        rows.append({k: image(m, s, k) for k, _ in COLUMNS})
    h, w = rows[0]["input"].shape[:2]
    ph = 0.9 * PANEL_W * h / w + 0.45
    fig, axes = plt.subplots(len(rows), len(COLUMNS), squeeze=False,
                             figsize=(PANEL_W * len(COLUMNS), ph * len(rows) + 0.7),
                             constrained_layout=True)
    for r, (s, imgs) in enumerate(zip(samples, rows)):
        for c, (key, label) in enumerate(COLUMNS):
            title = label
            if key == "input":
                title += "\n" + scores(s, "input")
            elif key == "background":
                title += "\n" + scores(s, "refined")
            show(axes[r, c], imgs[key], title, imgs["input"].shape)
        axes[r, 0].set_ylabel(short_id(s['id']), fontsize=8)
    fig.suptitle("Qualitative results — " + header(m), fontsize=10)
    common.save_figure(fig, out, stem)


def compare(ms, max_samples, out):
    ids = [s["id"] for s in ms[0]["samples"]]
    common_ids = [i for i in ids if all(any(s["id"] == i for s in m["samples"]) for m in ms[1:])]
    common_ids = common_ids[:max_samples]
    by_id = [{s["id"]: s for s in m["samples"]} for m in ms]
    labels = [common.dump_label(m) for m in ms]
    variants = [m.get("variant") or "model" for m in ms]
    if len(set(variants)) == len(variants):
        labels = variants
    rows = []
    for i in common_ids:
        rows.append({"input": image(ms[0], by_id[0][i], "input"),
                     "target": image(ms[0], by_id[0][i], "target"),
                     "refined": [image(m, by_id[k][i], "background") for k, m in enumerate(ms)]})
    h, w = rows[0]["input"].shape[:2]
    ncol = len(ms) + 2
    ph = 0.9 * PANEL_W * h / w + 0.45
    fig, axes = plt.subplots(len(rows), ncol, squeeze=False,
                             figsize=(PANEL_W * ncol, ph * len(rows) + 0.7), constrained_layout=True)
    for r, (i, row) in enumerate(zip(common_ids, rows)):
        show(axes[r, 0], row["input"], "input\n" + scores(by_id[0][i], "input"))
        axes[r, 0].set_ylabel(short_id(i), fontsize=8)
        for k, m in enumerate(ms):
            show(axes[r, k + 1], row["refined"][k], labels[k] + "\n" + scores(by_id[k][i], "refined"),
                 row["input"].shape)
        show(axes[r, ncol - 1], row["target"], "ground truth")
    datasets = sorted({m.get("dataset") or "?" for m in ms})
    fig.suptitle("Qualitative comparison of refined backgrounds — dataset " + ", ".join(datasets),
                 fontsize=10)
    common.save_figure(fig, out, "qualitative_compare")


def main():
    args = parse_args()
    ms = [common.load_manifest(d) for d in args.dump]
    if len(ms) > 1:
        ids0 = [s["id"] for s in ms[0]["samples"]]
        if not any(all(any(s["id"] == i for s in m["samples"]) for m in ms[1:]) for i in ids0):
            raise FigureError("dumps " + ", ".join(args.dump) + " have no sample id in common")
        if len({m.get("dataset") for m in ms}) > 1:
            note("the dumps come from different datasets: " +
                 ", ".join(sorted({str(m.get('dataset')) for m in ms})))
    for m in ms:  # every referenced file exists before anything is written
        for s in m["samples"][:args.max_samples]:
            for key, _ in COLUMNS:
                rel = s.get(key)
                if rel and not os.path.isfile(os.path.join(m["_dir"], str(rel))):
                    raise FigureError(f"dump {m['_dir']}: sample {s['id']} {key} image {rel} "
                                      "does not exist")
    stems = common.unique_stems([f"qualitative_{common.slug(m.get('variant'))}_run{m['run_id']}"
                                 for m in ms])
    common.ensure_out(args.out)
    for m, stem in zip(ms, stems):
        per_dump(m, args.max_samples, args.out, stem)
    if len(ms) > 1:
        compare(ms, args.max_samples, args.out)


if __name__ == "__main__":
    common.main_wrapper(PROG, main)
