#!/usr/bin/env python3
"""`dmgn board` driven in a real browser (headless Chromium through Selenium), over a real store.

    check_board_browser.py DMGN_BINARY

What a researcher does with it, on tiny DMGN runs of the built-in photos:
  1. a 2 x 2 loss-weight sweep (alpha_p = loss.terms.p_r.weight and p_c.weight together,
     alpha_adv = loss.terms.adv_r.weight) with 2 seeds, 8 runs, and a Table I sweep of R-RDMC and
     DMGN with 2 seeds, run by `dmgn sweep`; `dmgn report table1` of the latter records a report
     with paired verdicts;
  2. the board is started (`dmgn board --port 0`) and a longer run is started beside it;
  3. the runs page lists all 13 runs with their status, and filtering and sorting work;
  4. the live run's page: its training-loss curve grows while it trains (the chart's point count
     read twice, and the step and ETA shown), then the run is killed (SIGKILL) and the page says
     "died" (its lock is free);
  5. a sweep run's page: final scores, its test images (served, decodable), and the config rows
     that differ from the sweep's common values are exactly the swept keys and the seed;
  6. the sweep page: the 4 x 2 grid all completed with the store's scores, the two axes (p_r and
     p_c found to vary together), and the heat map's cells: n = 2 and the mean of the two seeds'
     PSNR as the store holds them;
  7. the reports page shows the recorded report with its runs and the store's verdicts, and
     "regenerate" renders its table;
  8. without the token every API call is refused, and an image is named by index only.
Screenshots go to $DMGN_TEST_TMP/board_browser/. Exit 77 (skipped) when selenium, chromium or
chromedriver is missing.
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

from headless import browser, require_chromium, skip

try:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError as e:  # pragma: no cover
    skip(f"{e} (apt install python3-selenium)")

# A tiny DMGN (as the study's browser test narrows it) on 32-pixel crops of the built-in photos.
TINY = ["model.widths=[4, 8, 8]", "model.bottleneck_cells=1", "model.vestigial=false", "model.head.taps=[1]",
        "model.refine.dilations=[1, 2]", "loss.perceptual.taps=[1]", "loss.perceptual.weights=[1.0]",
        "discriminator.ndf=4", "discriminator.layers=2", "model.aca.reduction=2", "data.crop=32",
        "data.augment.short_side=[40, 48]", "data.builtin.train_pairs=4", "data.builtin.heldout_pairs=2",
        "data.builtin.heldout_size=32", "data.workers=0", "train.batch_size=1", "runtime.threads=1",
        "runtime.progress=false"]
SWEEP, TABLE1 = "board_grid", "board_table1"
RUNS = 8 + 4 + 1  # the grid sweep's, Table I's and the live run


def write_sweep(src, root, name, body):
    """A sweep file of TINY runs, 4 steps each, seeds 0 and 1; `body`: its variants and axes."""
    path = os.path.join(root, name + ".toml")
    sets = TINY + ["train.max_steps=4", "train.val_every=2", "train.checkpoint_every=0", "runtime.log_every=1"]
    with open(path, "w") as f:
        f.write(f'[sweep]\nname = "{name}"\nconfig = {json.dumps(os.path.join(src, "experiments/quickstart.toml"))}\n')
        f.write("seeds = [0, 1]\nset = [\n" + "".join(f"  {json.dumps(s)},\n" for s in sets) + "]\n" + body)
    return path


GRID = """[[axes]]
name = "alpha_p"
keys = ["loss.terms.p_r.weight", "loss.terms.p_c.weight"]
scale = [1.0, 0.5]
values = [0.0, 0.1]
[[axes]]
name = "alpha_adv"
keys = ["loss.terms.adv_r.weight"]
values = [0.0, 0.01]
"""


def table1_variants(src):
    return "".join(f'[[variants]]\nname = "{name}"\nconfig = {json.dumps(os.path.join(src, "experiments", config))}\n'
                   for name, config in (("R-RDMC", "table1/r_rdmc.toml"), ("DMGN", "quickstart.toml")))


def get_status(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


class Page:
    def __init__(self, driver, base, token, shots):
        self.d, self.base, self.token, self.shots = driver, base, token, shots
        self.wait = WebDriverWait(driver, 60, poll_frequency=0.2)

    def go(self, hash_):
        self.d.get(f"{self.base}/?t={self.token}#{hash_}")

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def shot(self, name):
        self.d.save_screenshot(os.path.join(self.shots, name + ".png"))

    def no_error(self):
        errors = self.d.find_elements(By.ID, "error")
        assert not errors, errors[0].text

    def run_rows(self):
        """{run id: [cell texts]} as one snapshot (the page redraws the list on every poll)."""
        rows = self.js("return [...document.querySelectorAll('#runs tbody tr')]"
                       ".map(r => [r.dataset.run, [...r.cells].map(c => c.textContent)]);")
        return {int(run): cells for run, cells in rows}

    def text(self, css):
        """The text of what `css` finds ("" when nothing), read at once (polled parts are redrawn)."""
        return self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", css)

    def click(self, css):
        """A click on what `css` finds, again if the page's poll redrew it in between."""
        def once(d):
            try:
                d.find_element(By.CSS_SELECTOR, css).click()
                return True
            except StaleElementReferenceException:
                return False
        self.wait.until(once)

    def chart_points(self, title):
        return self.js("const s = document.querySelector(`.chart[data-title=\"${arguments[0]}\"] svg`);"
                       "return s ? Number(s.getAttribute('data-points')) : -1;", title)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    dmgn = os.path.abspath(sys.argv[1])
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    require_chromium()
    if not os.path.exists("/usr/share/javascript/d3/d3.min.js"):
        skip("libjs-d3 missing (apt install libjs-d3): the charts are what this test watches")
    tmp = os.environ.get("DMGN_TEST_TMP") or tempfile.gettempdir()
    shots = os.path.join(tmp, "board_browser")
    os.makedirs(shots, exist_ok=True)
    root = tempfile.mkdtemp(prefix="board_", dir=tmp)
    store = os.path.join(root, "runs.sqlite")
    out = [f'runtime.out_dir="{root}/runs"']
    quiet = dict(cwd=src, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    # 1. The sweeps and a recorded report.
    for name, body in ((SWEEP, GRID), (TABLE1, table1_variants(src))):
        r = subprocess.run([dmgn, "sweep", write_sweep(src, root, name, body), "--store", store, "--workers", "2"],
                           **quiet)
        assert r.returncode == 0, r.stderr
    r = subprocess.run([dmgn, "report", "table1", "--store", store, "--sweep", TABLE1], cwd=src,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    db = sqlite3.connect(store)
    assert db.execute("SELECT count(*) FROM runs WHERE sweep = ? AND status = 'completed'", (SWEEP,)).fetchone()[0] == 8
    assert db.execute("SELECT count(*) FROM runs WHERE status = 'completed'").fetchone()[0] == RUNS - 1
    verdicts = db.execute("SELECT verdict FROM report_verdicts").fetchall()
    assert verdicts, "table1 of two variants x two seeds recorded no paired verdict"

    # 2. The board, and a longer run beside it.
    board = subprocess.Popen([dmgn, "board", "--store", store, "--port", "0"], cwd=src, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    live = None
    driver = None
    try:
        url = None
        deadline = time.time() + 30
        while time.time() < deadline and not url:
            line = board.stdout.readline()
            print("board:", line.rstrip())
            if line.startswith("open: "):
                url = line.split()[1]
        assert url and url.startswith("http://127.0.0.1:"), f"no link from dmgn board ({url})"
        threading.Thread(target=lambda: [print("board:", l.rstrip()) for l in board.stdout], daemon=True).start()
        base, token = url.split("/?t=")
        sets = TINY + ["train.max_steps=100000", "train.val_every=20", "train.checkpoint_every=0",
                       "runtime.log_every=2"]
        live = subprocess.Popen([dmgn, "train", "experiments/quickstart.toml", "--store", store] +
                                [x for s in sets + out for x in ("--set", s)], **quiet)
        deadline = time.time() + 60
        live_id = None
        while time.time() < deadline and live_id is None:
            row = db.execute("SELECT id FROM runs WHERE sweep = '' AND status = 'running'").fetchone()
            live_id = row[0] if row else None
            time.sleep(0.2)
        assert live_id == RUNS, live_id

        # 8. Safety, over HTTP: no token, a wrong one, a path for an index, a write.
        assert get_status(f"{base}/api/runs") == 403
        wrong = ("1" if token[0] == "0" else "0") + token[1:]
        assert get_status(f"{base}/api/runs?t={wrong}") == 403
        assert get_status(f"{base}/img?run=1&k=..%2F..%2Fruns.sqlite&t={token}") == 400
        assert get_status(f"{base}/img?run=1&k=0&t={token}") == 200
        req = urllib.request.Request(f"{base}/api/runs?t={token}", data=b"{}", method="POST")
        try:
            urllib.request.urlopen(req, timeout=10)
            raise AssertionError("a POST was answered")
        except urllib.error.HTTPError as e:
            assert e.code == 405, e.code

        driver = browser(os.path.join(root, "profile"), size="1500,1000")
        p = Page(driver, base, token, shots)

        # 3. The runs page.
        p.go("/runs")
        p.wait.until(lambda d: len(p.run_rows()) == RUNS)
        p.wait.until(lambda d: p.run_rows()[live_id][1] == "running")
        rows = p.run_rows()
        for run_id in range(1, RUNS):
            assert rows[run_id][1] == "completed", (run_id, rows[run_id][1])
            psnr = db.execute("SELECT value FROM metrics WHERE run_id = ? AND split = 'test' AND name = 'psnr'",
                              (run_id,)).fetchone()[0]
            assert rows[run_id][10] == f"{psnr:.2f}", (run_id, rows[run_id][10], psnr)
        p.shot("1-runs")
        Select(driver.find_element(By.ID, "status-filter")).select_by_value("running")
        assert list(p.run_rows()) == [live_id]
        Select(driver.find_element(By.ID, "status-filter")).select_by_value("any")
        p.click('th[data-key="id"]')  # ascending
        assert list(p.run_rows()) == list(range(1, RUNS + 1))
        driver.find_element(By.ID, "filter").send_keys("alpha_adv=0.01")
        assert len(p.run_rows()) == 4, list(p.run_rows())
        driver.find_element(By.ID, "filter").send_keys(Keys.CONTROL, "a", Keys.BACKSPACE)
        p.wait.until(lambda d: len(p.run_rows()) == RUNS)

        # 4. The live run: its curve grows while it trains.
        p.click(f'#runs tr[data-run="{live_id}"] a')
        p.wait.until(lambda d: p.chart_points("train loss") > 0)
        first = p.chart_points("train loss")
        p.wait.until(lambda d: p.chart_points("train loss") > first)
        grown = p.chart_points("train loss")
        p.wait.until(lambda d: p.chart_points("val PSNR builtin") > 0)
        progress = p.text("#run-progress")
        assert "it/s" in progress and "ETA" in progress and "/ 100000" in progress, progress
        print(f"live run {live_id}: the loss curve grew from {first} to {grown} points in the browser")
        p.shot("2-live-run")
        live.send_signal(signal.SIGKILL)
        live.wait()
        p.wait.until(lambda d: "died" in p.text("#run-head h2"))
        p.shot("3-died")

        # 5. A sweep run's page.
        p.go("/run/3")
        p.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#score-table tbody tr"))
        p.wait.until(lambda d: p.js("const i = [...document.querySelectorAll('#images img')];"
                                    "return i.length > 0 && i.every(x => x.complete && x.naturalWidth > 0);"))
        differs = sorted(r.get_attribute("data-key")
                         for r in driver.find_elements(By.CSS_SELECTOR, "#config tr.differs"))
        assert differs == ["loss.terms.adv_r.weight", "loss.terms.p_c.weight", "loss.terms.p_r.weight", "run.seed",
                           "run.variant"], differs
        assert p.chart_points("train loss") == 4, p.chart_points("train loss")
        p.shot("4-sweep-run")

        # 6. The sweep page: the grid and Fig. 6's heat map.
        p.go(f"/sweep/{SWEEP}")
        p.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#heat-map td.heat"))
        p.no_error()
        cells = driver.find_elements(By.CSS_SELECTOR, "#sweep-grid td.cell")
        assert len(cells) == 8 and all("completed" in c.text for c in cells), [c.text for c in cells]
        axes = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#axes li")]
        assert any(a.startswith("loss.terms.p_r.weight = loss.terms.p_c.weight: 0.0, 0.1") for a in axes), axes
        assert any(a.startswith("loss.terms.adv_r.weight") for a in axes), axes
        heat = driver.find_elements(By.CSS_SELECTOR, "#heat-map td.heat")
        assert len(heat) == 4, len(heat)
        by_run = {}
        for run_id, text in db.execute("SELECT id, config_text FROM runs WHERE sweep = ?", (SWEEP,)):
            psnr = db.execute("SELECT value FROM metrics WHERE run_id = ? AND split = 'test' AND name = 'psnr'",
                              (run_id,)).fetchone()[0]
            by_run[run_id] = psnr
        for td in heat:
            assert td.get_attribute("data-n") == "2", td.text
            runs = [int(x) for x in td.get_attribute("title").replace("runs ", "").split(", ")]
            mean = sum(by_run[i] for i in runs) / 2
            assert td.text.startswith(f"{mean:.2f} ± "), (td.text, mean, runs)
        # At 4 steps the weights move the scores by far less than the seeds do, and the caption says so.
        caption = p.text("#heat-caption")
        assert "no cell differs resolvably" in caption, caption
        p.shot("5-sweep")

        # 7. Reports.
        p.go("/reports")
        p.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '.report[data-report="table1"]'))
        report = driver.find_element(By.CSS_SELECTOR, '.report[data-report="table1"]')
        assert "Table I" in report.find_element(By.TAG_NAME, "pre").text, report.text
        shown = [td.text for td in report.find_elements(By.CSS_SELECTOR, "table td[class^=v-]")]
        assert sorted(shown) == sorted(v for (v,) in verdicts), (shown, verdicts)
        assert len(report.find_elements(By.CSS_SELECTOR, "a[href^='#/run/']")) == 4, report.text
        report.find_element(By.TAG_NAME, "button").click()
        p.wait.until(lambda d: report.find_elements(By.CSS_SELECTOR, ".regenerated table tr"))
        p.shot("6-reports")
        print("ok: runs, a live run's growing curve and its death, a sweep run, the sweep grid and heat map, "
              "reports; token and index rules")
    except Exception:
        traceback.print_exc()
        if driver:
            driver.save_screenshot(os.path.join(shots, "failure.png"))
        return 1
    finally:
        if driver:
            driver.quit()
        if live and live.poll() is None:
            live.kill()
        board.send_signal(signal.SIGINT)
        try:
            board.wait(timeout=10)
        except subprocess.TimeoutExpired:
            board.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
