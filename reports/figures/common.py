"""Shared helpers for the dmgn figure scripts (reports/figures/*.py).

Run with /usr/bin/python3 (needs numpy and matplotlib; tomllib from Python 3.11).
Every script follows the same contract (see README.md):
  * argparse options, files written under --out (created if missing);
  * one line "wrote PATH" on stdout per written file, nothing else on stdout;
  * notes (skipped runs, chosen defaults) on stderr prefixed with "note:";
  * expected bad input (missing store, empty selection, malformed dump) -> a one-line
    "<script>: error: ..." on stderr and exit status 1, never a traceback.
"""
import argparse
import json
import math
import os
import re
import sqlite3
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

try:
    import tomllib
except ImportError:  # pragma: no cover - Python < 3.11
    tomllib = None

DEFAULT_STORE = "results/runs.sqlite"
DEFAULT_OUT = "results/figures"
STATUSES = ("running", "completed", "failed", "interrupted")

# Deterministic output: no creation date in the PDF (metadata below), fixed hash salt for
# SVG ids, fonts embedded as TrueType subsets (no per-run Type 3 names).
matplotlib.rcParams.update({
    "svg.hashsalt": "dmgn",
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
})
PDF_METADATA = {"CreationDate": None, "Producer": None, "Creator": None}
PNG_METADATA = {"Software": None}


class FigureError(Exception):
    """Expected bad input: reported as one line on stderr, exit status 1."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error and exit status 1 (the script contract)."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(1)


def make_parser(prog, description, store=True):
    p = ArgumentParser(prog=prog, description=description)
    if store:
        p.add_argument("--store", default=DEFAULT_STORE,
                       help=f"SQLite run store (default {DEFAULT_STORE})")
    p.add_argument("--out", default=DEFAULT_OUT,
                   help=f"output folder, created if missing (default {DEFAULT_OUT})")
    return p


def add_run_filters(p, experiment_default=None, status_default="completed"):
    p.add_argument("--experiment", default=experiment_default,
                   help="runs.experiment to select" +
                   (f" (default {experiment_default!r})" if experiment_default else " (default: any)"))
    p.add_argument("--sweep", default=None, help="runs.sweep to select (default: any)")
    p.add_argument("--run", dest="runs", type=int, action="append", default=None, metavar="ID",
                   help="run id to select (repeatable)")
    p.add_argument("--status", default=None, choices=STATUSES + ("any",),
                   help=f"runs.status to select (default {status_default!r}; "
                        "'any' when --run is given)")


def main_wrapper(prog, fn):
    """Run fn(); turn FigureError / sqlite errors into one line on stderr and exit 1."""
    try:
        fn()
    except FigureError as e:
        sys.stderr.write(f"{prog}: error: {e}\n")
        sys.exit(1)
    except sqlite3.Error as e:
        sys.stderr.write(f"{prog}: error: SQLite: {e}\n")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        sys.exit(130)
    sys.exit(0)


def note(msg):
    sys.stderr.write(f"note: {msg}\n")


# ---------------------------------------------------------------- store


def open_store(path):
    """Open the run store read-only (sqlite3 URI mode=ro, rows as sqlite3.Row).

    FigureError naming the file when it is missing, not SQLite, or has no runs/metrics table.
    """
    if not os.path.isfile(path):
        raise FigureError(f"store {path} does not exist")
    uri = "file:" + os.path.abspath(path).replace("?", "%3F").replace("#", "%23") + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error as e:
        raise FigureError(f"store {path} cannot be read as SQLite: {e}")
    conn.row_factory = sqlite3.Row
    missing = [t for t in ("runs", "metrics") if t not in tables]
    if missing:
        raise FigureError(f"store {path} is not a dmgn run store (no table {', '.join(missing)})")
    return conn


def _equal_to(pairs):
    """SQL conditions "col = ?" and their arguments for the (column, value) pairs whose value is set."""
    where, args = [], []
    for col, value in pairs:
        if value is not None:
            where.append(f"{col} = ?")
            args.append(value)
    return where, args


def live_status(run):
    """The stored status, or "died" for a 'running' run whose trainer's lock (<run_dir>/run.lock,
    held for the run's life and released by the OS when its process ends) is free: the same
    rule as the C++ store (framework/store/liveness.h)."""
    if run.get("status") != "running":
        return run.get("status")
    lock = os.path.join(run.get("run_dir") or "", "run.lock")
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return "died"
    try:
        import fcntl
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return "died"  # nobody holds it
    except OSError:
        return "running"
    finally:
        os.close(fd)


class Store:
    """A read-only run store plus its path (for messages)."""

    def __init__(self, path):
        self.path = path
        self.conn = open_store(path)

    def runs(self, experiment=None, sweep=None, run_ids=None, status="completed"):
        """Rows of runs matching all given filters, ordered by id (dicts)."""
        where, args = _equal_to([("experiment", experiment), ("sweep", sweep)])
        if run_ids:
            where.append("id IN (%s)" % ",".join("?" * len(run_ids)))
            args.extend(run_ids)
        if status not in (None, "any"):
            where.append("status = ?")
            args.append(status)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        rows = [dict(r) for r in self.conn.execute(sql, args)]
        for r in rows:
            r["status"] = live_status(r)
        if run_ids:
            found = {r["id"] for r in rows}
            absent = [i for i in run_ids if i not in found]
            if absent:
                all_ids = {r[0] for r in self.conn.execute("SELECT id FROM runs")}
                gone = [i for i in absent if i not in all_ids]
                if gone:
                    raise FigureError(f"store {self.path} has no run {', '.join(map(str, gone))}")
        return rows

    def select(self, args, what="runs"):
        """Runs selected by the add_run_filters options; FigureError when none match."""
        status = args.status or ("any" if args.runs else "completed")
        rows = self.runs(args.experiment, args.sweep, args.runs, status)
        if not rows:
            raise FigureError(f"store {self.path}: no {what} match {describe_filters(args, status)}")
        return rows

    def metrics(self, run_id, split=None, dataset=None, names=None):
        """{(dataset, name): (steps int array, values float array)} sorted by step; NULL -> NaN."""
        where, args = _equal_to([("run_id", run_id), ("split", split), ("dataset", dataset)])
        if names:
            where.append("name IN (%s)" % ",".join("?" * len(names)))
            args.extend(names)
        sql = ("SELECT dataset, name, step, value FROM metrics WHERE " + " AND ".join(where) +
               " ORDER BY dataset, name, step, rowid")
        out = {}
        for ds, name, step, value in self.conn.execute(sql, args):
            out.setdefault((ds, name), {})[int(step)] = math.nan if value is None else float(value)
        # a step logged twice (resumed run) keeps the later row
        return {k: (np.array(sorted(v), dtype=np.int64),
                    np.array([v[s] for s in sorted(v)], dtype=np.float64)) for k, v in out.items()}

    def provenance(self, run_id):
        try:
            return {k: v for k, v in self.conn.execute(
                "SELECT key, value FROM provenance WHERE run_id = ?", (run_id,))}
        except sqlite3.OperationalError:
            return {}


def describe_filters(args, status):
    parts = []
    if getattr(args, "experiment", None) is not None:
        parts.append(f"experiment={args.experiment!r}")
    if getattr(args, "sweep", None) is not None:
        parts.append(f"sweep={args.sweep!r}")
    if getattr(args, "runs", None):
        parts.append("run=" + ",".join(map(str, args.runs)))
    if status not in (None, "any"):
        parts.append(f"status={status!r}")
    return " ".join(parts) if parts else "(no filter)"


# ---------------------------------------------------------------- config


def run_config(run):
    """Parsed config_text (canonical TOML) of a run row; FigureError naming the run."""
    if tomllib is None:
        raise FigureError("this Python has no tomllib (needs Python >= 3.11)")
    text = run.get("config_text") or ""
    if not text.strip():
        raise FigureError(f"run {run['id']} has an empty config_text")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise FigureError(f"run {run['id']}: config_text is not valid TOML: {e}")


def config_get(cfg, dotted, run_id=None):
    """cfg['a']['b']['c'] for 'a.b.c'; FigureError naming the run and key when absent."""
    node = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            who = f"run {run_id}: " if run_id is not None else ""
            raise FigureError(f"{who}config_text has no key {dotted}")
        node = node[part]
    return node


def config_float(cfg, dotted, run_id=None):
    v = config_get(cfg, dotted, run_id)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        who = f"run {run_id}: " if run_id is not None else ""
        raise FigureError(f"{who}config key {dotted} is not a number ({v!r})")
    return float(v)


# ---------------------------------------------------------------- dumps (dmgn visualize)


def load_manifest(dump):
    """manifest.json of a `dmgn visualize` dump folder, checked; FigureError naming the dump."""
    path = os.path.join(dump, "manifest.json")
    if not os.path.isdir(dump):
        raise FigureError(f"dump {dump} is not a folder")
    if not os.path.isfile(path):
        raise FigureError(f"dump {dump} has no manifest.json")
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
    except (OSError, ValueError) as e:
        raise FigureError(f"{path}: cannot read JSON: {e}")
    if not isinstance(m, dict):
        raise FigureError(f"{path}: top level is not an object")
    samples = m.get("samples")
    if not isinstance(samples, list):
        raise FigureError(f"{path}: key 'samples' missing or not a list")
    if not samples:
        raise FigureError(f"{path}: no samples")
    for i, s in enumerate(samples):
        if not isinstance(s, dict):
            raise FigureError(f"{path}: samples[{i}] is not an object")
        for key in ("input", "background", "target"):
            if not isinstance(s.get(key), str) or not s[key]:
                raise FigureError(f"{path}: samples[{i}] has no key '{key}'")
        s.setdefault("id", f"{i:03d}")
        s["id"] = str(s["id"])
    for key, default in (("run_id", 0), ("step", 0)):
        v = m.get(key, default)
        if v is None:
            v = default
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise FigureError(f"{path}: key '{key}' is not an integer ({v!r})")
        try:
            m[key] = int(v)
        except (ValueError, OverflowError):
            raise FigureError(f"{path}: key '{key}' is not an integer ({v!r})")
    for key in ("variant", "dataset", "checkpoint"):
        m[key] = "" if m.get(key) is None else str(m[key])
    m["_dir"] = dump
    m["_path"] = path
    return m


def read_image(dump, rel, what):
    """An image of a dump (float, 0..1) via matplotlib.image.imread; FigureError if missing."""
    import matplotlib.image as mpimg
    path = os.path.join(dump, rel)
    if not os.path.isfile(path):
        raise FigureError(f"dump {dump}: {what} image {rel} does not exist")
    try:
        img = mpimg.imread(path)
    except Exception as e:  # noqa: BLE001 - PIL/png errors vary; report in one line
        raise FigureError(f"dump {dump}: cannot read {what} image {rel}: {e}")
    img = np.asarray(img)
    if img.dtype == np.uint8:
        img = img.astype(np.float32) / 255.0
    elif img.dtype == np.uint16:
        img = img.astype(np.float32) / 65535.0
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    return img


def dump_label(m):
    v = m.get("variant") or "model"
    rid = m.get("run_id") or 0
    bits = [v]
    if rid:
        bits.append(f"run {rid}")
    if m.get("step"):
        bits.append(f"step {m['step']}")
    return ", ".join(bits)


def unique_stems(stems):
    """Make a list of stems unique by appending _2, _3, ... to repeats."""
    seen, out = {}, []
    for s in stems:
        n = seen.get(s, 0) + 1
        seen[s] = n
        out.append(s if n == 1 else f"{s}_{n}")
    return out


# ---------------------------------------------------------------- output


def slug(text):
    s = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")
    return s or "model"


def fmt(v, digits=2):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.{digits}f}"


def save_figure(fig, out_dir, stem):
    """Write OUT/stem.png (150 dpi) and OUT/stem.pdf, print 'wrote PATH' for each, close fig."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for ext, meta in (("png", PNG_METADATA), ("pdf", PDF_METADATA)):
        path = os.path.join(out_dir, f"{stem}.{ext}")
        try:
            fig.savefig(path, dpi=150, metadata=meta)
        except OSError as e:
            plt.close(fig)
            raise FigureError(f"cannot write {path}: {e}")
        print(f"wrote {path}", flush=True)
        paths.append(path)
    plt.close(fig)
    return paths


def ensure_out(out_dir):
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise FigureError(f"cannot create output folder {out_dir}: {e}")
    if not os.access(out_dir, os.W_OK):
        raise FigureError(f"output folder {out_dir} is not writable")


def choose_test_dataset(store, rows, requested):
    """The test dataset a figure plots: `requested` (FigureError when no row has test psnr/ssim
    on it), else the one with test psnr/ssim in the most rows (ties by name; a note lists the
    others). Each row's "test" holds store.metrics(..., split="test") of one run."""
    counts = {}
    for r in rows:
        for ds in {ds for (ds, name) in r["test"] if name in ("psnr", "ssim")}:
            counts[ds] = counts.get(ds, 0) + 1
    if not counts:
        raise FigureError(f"store {store.path}: the {len(rows)} selected run(s) have no test "
                          "psnr/ssim metrics")
    if requested is None:
        dataset = sorted(counts, key=lambda d: (-counts[d], d))[0]
        if len(counts) > 1:
            note(f"test dataset {dataset!r} chosen ({counts[dataset]} runs); others: " +
                 ", ".join(f"{d} ({counts[d]})" for d in sorted(counts) if d != dataset) +
                 " (use --dataset)")
        return dataset
    if requested not in counts:
        raise FigureError(f"store {store.path}: no selected run has test metrics for dataset "
                          f"{requested!r} (available: {', '.join(sorted(counts))})")
    return requested


def values_at_last_test_step(test, dataset, names):
    """(step, {name: value}) of one run's test metrics on `dataset` at its highest psnr/ssim test
    step (NaN for a name without a value there), or None when it has no psnr/ssim there."""
    series = {name: test.get((dataset, name)) for name in names}
    steps = [s[0] for n, s in series.items() if n in ("psnr", "ssim") and s is not None]
    if not steps or not any(len(s) for s in steps):
        return None
    step = int(max(int(s.max()) for s in steps if len(s)))
    vals = {}
    for name, s in series.items():
        if s is None:
            vals[name] = math.nan
        else:
            hit = np.nonzero(s[0] == step)[0]
            vals[name] = float(s[1][hit[-1]]) if len(hit) else math.nan
    return step, vals


def points_at_last_test_step(store, rows, dataset, names, key_of, describe):
    """One point per key_of(row) (a later run replaces an earlier one with a note built by
    describe(key)): the row plus "step" and the values of `names` at its highest psnr/ssim test
    step on `dataset`. Rows without such metrics are skipped with a note; FigureError when none
    is left."""
    points, skipped = {}, []
    for r in rows:
        last = values_at_last_test_step(r["test"], dataset, names)
        if last is None:
            skipped.append(r["run"]["id"])
            continue
        step, vals = last
        key = key_of(r)
        if key in points:
            note(f"run {points[key]['run']['id']} replaced by run {r['run']['id']} (same {describe(key)})")
        points[key] = dict(r, step=step, **vals)
    if skipped and points:
        note(f"{len(skipped)} run(s) without test psnr/ssim for dataset {dataset!r} skipped: " +
             ", ".join(map(str, skipped)))
    if not points:
        raise FigureError(f"store {store.path}: no selected run has test psnr/ssim for "
                          f"dataset {dataset!r}")
    return list(points.values())


def add_figure_options(p):
    """--psnr-range / --ssim-range: fixed y ranges (a spread of 0.04 dB then looks like one)."""
    p.add_argument("--psnr-range", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help="fixed PSNR axis range in dB (default: fitted to the data)")
    p.add_argument("--ssim-range", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help="fixed SSIM axis range (default: fitted to the data)")


def check_ranges(p, args):
    for name in ("psnr_range", "ssim_range"):
        r = getattr(args, name)
        if r is not None and not (math.isfinite(r[0]) and math.isfinite(r[1]) and r[0] < r[1]):
            p.error(f"--{name.replace('_', '-')} {r[0]:g} {r[1]:g}: needs finite LO < HI")


def apply_range(ax, metric, args):
    r = getattr(args, metric + "_range", None)
    if r is not None:
        ax.set_ylim(r[0], r[1])


def spread_words(values):
    """'values 0, 1' / 'value 0' for a caption."""
    values = sorted(set(values), key=str)
    return ("value " if len(values) == 1 else "values ") + ", ".join(str(v) for v in values)


def caption(store, points, dataset):
    """What the figure's numbers are, from the runs behind them: training steps, data, VGG
    weights and the test convention, each as its set of values over the runs ("steps 160",
    "data builtin-synthetic", "VGG-19 random weights", "convention real20")."""
    steps, data, vgg, presets = set(), set(), set(), set()
    for p in points:
        prov = store.provenance(p["run"]["id"])
        steps.add(prov.get("steps", str(p.get("step", "?"))))
        data.add(prov.get("dataset", "?"))
        vgg.add(prov.get("vgg_weights", "?"))
        try:
            for (pr,) in store.conn.execute(
                    "SELECT DISTINCT preset FROM metrics WHERE run_id = ? AND split = 'test' AND dataset = ? "
                    "AND name = 'psnr'", (p["run"]["id"], dataset)):
                presets.add(pr or "?")
        except sqlite3.OperationalError:  # a store from before metric presets
            presets.add("?")
    join = lambda xs: "/".join(sorted(xs, key=str))  # noqa: E731
    vgg_text = {"random": "VGG-19 random weights (not the paper's)", "file": "VGG-19 ImageNet weights"}
    parts, unknown = [f"{'steps' if len(steps) == 1 else 'steps (differ!)'} {join(steps)}"], []
    for name, values, text in (("data", data, lambda v: f"data {v}"),
                               ("VGG weights", vgg, lambda v: vgg_text.get(v, f"VGG-19 weights {v}")),
                               ("test convention", presets, lambda v: f"test convention {v}")):
        known = {v for v in values if v != "?"}
        if known:
            parts.append(join(text(v) for v in known) + (" (some runs: not recorded)" if "?" in values else ""))
        else:
            unknown.append(name)
    if unknown:
        parts.append("not recorded: " + ", ".join(unknown))
    return "; ".join(parts)


def n_words(ns):
    """'n=3 seeds per point' / 'n=1 (one seed: no error bars)' / 'n=1-3 seeds per point'."""
    ns = sorted(set(n for n in ns if n))
    if not ns:
        return "n=0"
    if ns == [1]:
        return "n=1 per point (one seed: no error bars)"
    return (f"n={ns[0]}" if len(ns) == 1 else f"n={ns[0]}–{ns[-1]}") + " seeds per point, mean ± std"


def seed_statistics(points, names):
    """For points of one configuration: NAME_n, NAME_mean and NAME_std (sample, ddof=1; NaN for
    fewer than 2) of every name over the finite values."""
    g = {}
    for name in names:
        v = np.array([p[name] for p in points], dtype=np.float64)
        v = v[np.isfinite(v)]
        g[name + "_n"] = len(v)
        g[name + "_mean"] = float(v.mean()) if len(v) else math.nan
        g[name + "_std"] = float(v.std(ddof=1)) if len(v) >= 2 else math.nan
    return g


def csv_number(v):
    """A CSV cell: '' for None / NaN, else 6 significant digits."""
    return "" if v is None or not math.isfinite(v) else f"{v:.6g}"


def seed_columns(g):
    """The CSV cells n, seeds, run_ids, steps, psnr/ssim mean and std, input means of one
    aggregated configuration (points grouped by seed_statistics' callers)."""
    num = csv_number
    return [g["n"], ";".join(str(s) for s in g["seeds"]), ";".join(str(i) for i in g["run_ids"]),
            ";".join(str(s) for s in g["steps"]), num(g["psnr_mean"]), num(g["psnr_std"]),
            num(g["ssim_mean"]), num(g["ssim_std"]), num(g["psnr_input_mean"]), num(g["ssim_input_mean"])]


_PLAIN_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def csv_cell(v):
    """A CSV cell as written: text a spreadsheet would evaluate as a formula (first character
    = + - @ tab or carriage return, and not a plain number such as "-0.5") gets a leading ' so
    that it shows as text (OWASP's CSV injection rule; dataset names, keys and other text from
    users); everything else is unchanged. The same rule as dmgn's report CSV."""
    if isinstance(v, str) and v and v[0] in "=+-@\t\r" and not _PLAIN_NUMBER.fullmatch(v):
        return "'" + v
    return v


def write_csv(out_dir, stem, cols, rows):
    """OUT/STEM.csv with header `cols` and `rows` (each cell through csv_cell); prints
    `wrote PATH` (FigureError on failure)."""
    import csv
    path = os.path.join(out_dir, f"{stem}.csv")
    try:
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow([csv_cell(c) for c in cols])
            w.writerows([csv_cell(c) for c in row] for row in rows)
    except OSError as e:
        raise FigureError(f"cannot write {path}: {e}")
    print(f"wrote {path}", flush=True)
