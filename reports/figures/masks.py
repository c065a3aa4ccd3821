#!/usr/bin/python3
"""RDMC mask evolution (paper Fig. 1 and Sec. III-B "Physical interpretation").

The paper: each Residual Deep-Masking Cell learns a sigmoid gating mask in [0, 1] (darker =
less information flow); as the background generation proceeds, less information is needed and
"more and more pixel values in the mask tend to converge to 0" (Fig. 1 shows four masks of
the coarse background generator G_b in order).

Per dump folder (`dmgn visualize`): OUT/masks_<variant-slug>_run<ID>.png/.pdf with
  * row(s) "coarse G_b": the input of sample --sample, then its coarse background-generator
    masks in cell order (grayscale, shared 0..1 scale, one colour bar);
  * row(s) "refine G_refine": the coarse background, then the refining generator's masks,
    when the dump has them;
  * a line plot of the mean mask value per cell index, averaged over all samples of the dump
    (coarse and refine as separate lines, band = std over samples): the paper's claim is
    that it decreases along the cells.
Masks wrap onto further, balanced rows when a generator has more than --max-cols cells.  The per-sample means come from the
manifest's coarse_mask_means / refine_mask_means (computed on the float masks); a sample
without them falls back to the mean of its 8-bit mask PNGs.
With several dumps also OUT/masks_compare.png/.pdf: the mean-per-cell lines of every dump.
A dump without masks (the plain-cell "Base model") is an error.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import FigureError, fmt  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

PROG = "masks.py"
GROUPS = (("coarse", "coarse $G_b$ masks", "input", "input"),
          ("refine", "refine $G_{refine}$ masks", "coarse", "coarse background"))
PANEL_W = 1.55


def parse_args():
    p = common.make_parser(PROG, __doc__.split("\n\n")[0], store=False)
    p.add_argument("--dump", action="append", required=True, metavar="DIR",
                   help="dump folder written by `dmgn visualize` (repeatable)")
    p.add_argument("--sample", type=int, default=0,
                   help="index (0-based, manifest order) of the sample whose masks are shown "
                        "(default 0)")
    p.add_argument("--max-cols", type=int, default=8,
                   help="masks per row before wrapping (default 8)")
    a = p.parse_args()
    if a.sample < 0:
        p.error("--sample must be >= 0")
    if a.max_cols < 1:
        p.error("--max-cols must be >= 1")
    return a


def mask_list(m, s, group):
    v = s.get(f"{group}_masks")
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise FigureError(f"{m['_path']}: sample {s['id']} key '{group}_masks' is not a list of paths")
    return v


def read_mask(m, rel):
    img = common.read_image(m["_dir"], rel, "mask")
    if img.ndim == 3:
        img = img.mean(axis=2)
    return img


def sample_means(m, s, group):
    """Per-cell mean of one sample: manifest value, else the PNG mean."""
    paths = mask_list(m, s, group)
    means = s.get(f"{group}_mask_means")
    ok = (isinstance(means, list) and len(means) == len(paths) and
          all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in means))
    if ok:
        return [float(x) for x in means]
    return [float(read_mask(m, p).mean()) for p in paths]


def mean_curves(m):
    """{group: (mean, std, n) arrays over samples, per cell index} for groups with masks."""
    out = {}
    for group, *_ in GROUPS:
        per = [sample_means(m, s, group) for s in m["samples"]]
        n_cells = max((len(x) for x in per), default=0)
        if not n_cells:
            continue
        a = np.full((len(per), n_cells), np.nan)
        for i, x in enumerate(per):
            a[i, :len(x)] = x
        n = np.isfinite(a).sum(axis=0)
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(a, axis=0)
            std = np.nanstd(a, axis=0)
        out[group] = (mean, std, n)
    return out


def check(m, sample):
    if sample >= len(m["samples"]):
        raise FigureError(f"dump {m['_dir']} has {len(m['samples'])} sample(s); --sample {sample} "
                          "is out of range")
    if not any(mask_list(m, s, g) for s in m["samples"] for g, *_ in GROUPS):
        raise FigureError(f"dump {m['_dir']} (variant {m.get('variant') or '?'!r}) has no RDMC "
                          "masks (plain cells, e.g. the Base model, have none)")
    s = m["samples"][sample]
    if not any(mask_list(m, s, g) for g, *_ in GROUPS):
        raise FigureError(f"dump {m['_dir']}: sample {sample} (id {s['id']}) has no masks")
    for g, *_ in GROUPS:
        for rel in mask_list(m, s, g):
            if not os.path.isfile(os.path.join(m["_dir"], rel)):
                raise FigureError(f"dump {m['_dir']}: mask image {rel} does not exist")


def plot_means(ax, curves_by_label):
    styles = {"coarse": ("C0", "o", "-"), "refine": ("C3", "s", "--")}
    many = len(curves_by_label) > 1
    for k, (label, curves) in enumerate(curves_by_label):
        for group, (mean, std, n) in curves.items():
            colour, marker, ls = styles[group]
            if many:
                colour = f"C{k % 10}"
            x = np.arange(len(mean))
            trend = f"{fmt(mean[0])} → {fmt(mean[-1])}"
            name = f"{group} ({trend}, {int(n.max())} samples)"
            ax.plot(x, mean, marker=marker, ls=ls, color=colour, lw=1.5, ms=5,
                    label=(f"{label}: " if many else "") + name)
            if not many:
                ax.fill_between(x, mean - std, mean + std, color=colour, alpha=0.15, lw=0)
    top = max(float(np.nanmax(c[0] + c[1])) for _, cs in curves_by_label for c in cs.values())
    ax.set_ylim(0, min(1.02, max(0.1, top * 1.12)))  # from 0: the claim is "towards 0"
    n_max = max(len(c[0]) for _, cs in curves_by_label for c in cs.values())
    ax.set_xticks(np.arange(n_max))
    ax.set_xlim(-0.3, n_max - 0.7)
    ax.set_xlabel("RDMC cell index within its generator (order of application)")
    ax.set_ylabel("mean mask value")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", framealpha=0.85)


def per_dump(m, sample, max_cols, out, stem):
    s = m["samples"][sample]
    rows = []  # (row label, context image, context title, [(mask, title)])
    for group, gname, ctx_key, ctx_title in GROUPS:
        paths = mask_list(m, s, group)
        if not paths:
            continue
        means = sample_means(m, s, group)
        masks = [(read_mask(m, p), f"cell {i}\nmean {fmt(means[i])}") for i, p in enumerate(paths)]
        ctx = None
        rel = s.get(ctx_key)
        if isinstance(rel, str) and rel:
            ctx = common.read_image(m["_dir"], rel, ctx_key)
        n_rows = -(-len(masks) // max_cols)
        per_row = -(-len(masks) // n_rows)  # balanced rows: 10 masks, --max-cols 8 -> 5 + 5
        for start in range(0, len(masks), per_row):
            first = start == 0
            rows.append((gname if first else "", ctx if first else None,
                         ctx_title if first else None, masks[start:start + per_row]))
    ncols = 1 + max(len(r[3]) for r in rows)
    h, w = rows[0][3][0][0].shape[:2]
    ph = PANEL_W * h / w + 0.45
    fig = plt.figure(figsize=(PANEL_W * ncols + 1.0, ph * len(rows) + 3.3), constrained_layout=True)
    gs = fig.add_gridspec(len(rows) + 1, ncols, height_ratios=[ph] * len(rows) + [2.6])
    im = None
    mask_axes = []
    for r, (label, ctx, ctx_title, masks) in enumerate(rows):
        ax = fig.add_subplot(gs[r, 0])
        ax.set_xticks([])
        ax.set_yticks([])
        if ctx is not None:
            ax.imshow(ctx.clip(0, 1) if ctx.ndim == 3 else ctx, cmap=None if ctx.ndim == 3 else "gray",
                      interpolation="nearest")
            ax.set_title(ctx_title, fontsize=8)
        else:
            ax.axis("off")
        if label:
            ax.set_ylabel(label, fontsize=8)
            if ctx is None:
                ax.axis("on")
                for sp in ax.spines.values():
                    sp.set_visible(False)
        for c, (mask, title) in enumerate(masks):
            ax = fig.add_subplot(gs[r, c + 1])
            im = ax.imshow(mask, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=8)
            mask_axes.append(ax)
    cb = fig.colorbar(im, ax=mask_axes, shrink=0.9, pad=0.01, aspect=30)
    cb.set_label("mask value (0 = blocked)", fontsize=8)
    ax = fig.add_subplot(gs[len(rows), :])
    plot_means(ax, [(common.dump_label(m), mean_curves(m))])
    ax.set_title("mean mask value per cell over all samples of the dump (band: ± std over samples)"
                 " — paper: decreases towards 0 along the cells", fontsize=8)
    fig.suptitle(f"RDMC masks — {common.dump_label(m)}" +
                 (f", dataset {m['dataset']}" if m.get("dataset") else "") +
                 f"; sample {s['id']} (index {sample})", fontsize=10)
    common.save_figure(fig, out, stem)


def main():
    args = parse_args()
    ms = [common.load_manifest(d) for d in args.dump]
    for m in ms:
        check(m, args.sample)
    stems = common.unique_stems([f"masks_{common.slug(m.get('variant'))}_run{m['run_id']}"
                                 for m in ms])
    common.ensure_out(args.out)
    for m, stem in zip(ms, stems):
        per_dump(m, args.sample, args.max_cols, args.out, stem)
    if len(ms) > 1:
        fig, ax = plt.subplots(figsize=(8, 4.2), constrained_layout=True)
        plot_means(ax, [(common.dump_label(m), mean_curves(m)) for m in ms])
        ax.set_title("RDMC mean mask value per cell (all samples of each dump)")
        common.save_figure(fig, args.out, "masks_compare")


if __name__ == "__main__":
    common.main_wrapper(PROG, main)
