#!/usr/bin/env python3
"""A blind study driven in a real browser (headless Chromium through Selenium).

    check_study_browser.py DMGN_BINARY

Table IV's study as a researcher runs it: makes a small paired dataset, trains three real runs
of the compared systems (DMGN, ERRNet and IBCLN, tiny and short: their outputs differ, not their
quality), creates the study from those runs and the input with `dmgn study create
--methods DMGN=run:1,ERRNet=run:2,IBCLN=run:3,Input=input`, restores every sample with each
run's checkpoint independently (`dmgn eval --save-images`), serves the study with
`dmgn study serve --port 0`, and then:
  0. every image the browser is sent is one run's own output for that sample (or the input),
     equal to the independent restoration to within one 8-bit level: the page shows the runs'
     real outputs, and each is found by its pixels, never by a name;
  1. subject 1 (a name full of markup) votes on every sample, by clicks and by number keys,
     always for DMGN, goes back to sample 3 and changes that vote to ERRNet, zooms into a
     region, and finishes;
  2. subjects 2 and 3 vote at the same time in two browsers (2: DMGN on samples 1-4, IBCLN on
     5-6, closing its browser after 3 votes and carrying on in a new one; 3: IBCLN everywhere);
  3. the store (and `dmgn study export`) then holds exactly those 18 votes (methods, shown
     orders, one revision) and
     `dmgn report table4` prints the expected shares (DMGN 50.0%, IBCLN 44.4%, ERRNet 5.6%, input
     0.0%) and winners (DMGN 3, IBCLN 2, one tie) beside the paper's.
Screenshots go to $DMGN_TEST_TMP/study_browser/. Exit 77 (skipped) when selenium, chromium or
chromedriver is missing.
"""
import csv
import io
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
    import numpy as np
    from PIL import Image
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as e:  # pragma: no cover
    skip(f"{e} (apt install python3-selenium python3-pil python3-numpy)")

SAMPLES = 6


METHODS = ("DMGN", "ERRNet", "IBCLN")


def make_data(root):
    """root/data/{input,target}/sN.png, 96x64."""
    rng = np.random.default_rng(0)
    for d in ("data/input", "data/target"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    yy, xx = np.mgrid[0:64, 0:96] / 64.0
    for i in range(SAMPLES):
        base = 0.5 + 0.3 * np.sin(xx * (2 + i) + yy * 3) * np.cos(yy * (1 + i))
        gt = np.clip(base + 0.05 * rng.standard_normal(base.shape), 0, 1)
        gt = np.stack([gt] * 3, -1)
        refl = 0.5 + 0.5 * np.cos(xx * 7 - yy * (5 + i))
        inp = np.clip(0.65 * gt + 0.35 * np.stack([refl] * 3, -1), 0, 1)
        save = lambda a, *p: Image.fromarray((a * 255 + 0.5).astype(np.uint8)).save(os.path.join(root, *p))
        save(gt, "data/target", f"s{i}.png")
        save(inp, "data/input", f"s{i}.png")


# Tiny, short runs of the three systems (their own configs, narrowed as their tests narrow them),
# trained on the built-in photos: real checkpoints whose outputs differ from each other.
TINY = {
    "DMGN": ("experiments/quickstart.toml", ["model.widths=[4, 8, 8]", "model.bottleneck_cells=1",
                                            "model.vestigial=false", "model.head.taps=[1]",
                                            "model.refine.dilations=[1, 2]", "loss.perceptual.taps=[1]",
                                            "loss.perceptual.weights=[1.0]", "discriminator.ndf=4",
                                            "discriminator.layers=2", "model.aca.reduction=2"]),
    "ERRNet": ("experiments/errnet/table2.toml", ["model.n_feats=8", "model.resblocks=1", "model.se_reduction=2",
                                                 "discriminator.ndf=4"]),
    "IBCLN": ("experiments/ibcln/table2.toml", ["model.iterations=1", "discriminator.ndf=4"]),
}
SHORT = ["data.crop=32", "data.augment.short_side=[40, 48]", "data.builtin.train_pairs=4",
         "data.builtin.heldout_pairs=1", "data.builtin.heldout_size=32", "data.workers=0", "train.val_every=0",
         "train.checkpoint_every=0", "train.batch_size=1", "train.max_steps=2", "runtime.threads=1",
         "runtime.progress=false"]


def train_runs(dmgn, src, root, store):
    """{method: (run id, its latest checkpoint)} after `dmgn train` of each."""
    runs = {}
    for method in METHODS:
        config, tiny = TINY[method]
        sets = [x for s in tiny + SHORT + [f'runtime.out_dir="{root}/runs"'] for x in ("--set", s)]
        subprocess.run([dmgn, "train", config, "--store", store] + sets, check=True, cwd=src,
                       stdout=subprocess.DEVNULL)
        db = sqlite3.connect(store)
        run_id, variant, run_dir, status = db.execute(
            "SELECT id, variant, run_dir, status FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        db.close()
        assert variant == method and status == "completed", (method, variant, status)
        ckpts = sorted(os.listdir(os.path.join(run_dir, "checkpoints")))
        runs[method] = (run_id, os.path.join(run_dir, "checkpoints", ckpts[-1]))
    return runs


def references(dmgn, src, root, store, runs, mine):
    """[(method, uint8 image)]: every run's own restoration of every sample (`dmgn eval
    --save-images`, independent of the study), and the inputs."""
    out = []
    load = lambda f: np.asarray(Image.open(f).convert("RGB"), dtype=np.int16)
    for method, (_, ckpt) in runs.items():
        folder = os.path.join(root, "reference", method)
        subprocess.run([dmgn, "eval", ckpt, "--dataset", "mine", "--store", store, "--save-images", folder] + mine,
                       check=True, cwd=src, stdout=subprocess.DEVNULL)
        # Each output keeps its input's name, relative to the dataset (input/sN.png).
        outputs = os.path.join(folder, "mine", "output")
        files = sorted(os.path.join(d, f) for d, _, fs in os.walk(outputs) for f in fs)
        assert len(files) == SAMPLES, files
        out += [(method, load(f)) for f in files]
    inputs = os.path.join(root, "data", "input")
    out += [("Input", load(os.path.join(inputs, n))) for n in sorted(os.listdir(inputs))]
    return out


def method_of(url, cache, lock, refs):
    """The method whose own output (or the input) the server sent for an image, by its pixels: the
    one reference it equals to within one 8-bit level, and no other."""
    with lock:
        if url in cache:
            return cache[url]
    with urllib.request.urlopen(url, timeout=10) as r:
        a = np.asarray(Image.open(io.BytesIO(r.read())).convert("RGB"), dtype=np.int16)
    same = {m for m, ref in refs if ref.shape == a.shape and np.abs(ref - a).max() <= 1}
    assert len(same) == 1, f"{url}: the served image equals the outputs of {sorted(same) or 'no method'}"
    name = same.pop()
    with lock:
        cache[url] = name
    return name


class Subject:
    def __init__(self, driver, url, cache, lock, refs):
        self.d, self.url, self.cache, self.lock, self.refs = driver, url, cache, lock, refs
        self.wait = WebDriverWait(driver, 30)

    def text(self, element_id):
        return self.d.find_element(By.ID, element_id).text

    def key(self, k):
        """A key press as a person makes it: to whatever has the focus."""
        ActionChains(self.d).send_keys(k).perform()

    def join(self, name):
        self.d.get(self.url)
        self.d.find_element(By.ID, "name").send_keys(name)
        self.d.find_element(By.ID, "start").click()
        self.wait.until(lambda d: d.find_element(By.ID, "vote").is_displayed())

    def at_sample(self, i):
        self.wait.until(lambda d: self.text("status").startswith(f"Sample {i + 1} / {SAMPLES}"))
        self.wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#grid .card[data-letter]")) == 4)
        # A person looks before clicking: every image of the sample has arrived.
        self.wait.until(lambda d: d.execute_script(
            "return [...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth > 0)"))

    def cards(self):
        """[(letter, colour, img element)] in the order shown."""
        out = []
        for c in self.d.find_elements(By.CSS_SELECTOR, "#grid .card[data-letter]"):
            img = c.find_element(By.TAG_NAME, "img")
            out.append((c.get_attribute("data-letter"),
                        method_of(img.get_attribute("src"), self.cache, self.lock, self.refs), img))
        return out

    def vote(self, i, method, by_key):
        self.at_sample(i)
        cards = self.cards()
        assert sorted(c for _, c, _ in cards) == sorted(METHODS + ("Input",)), cards
        k = [c for _, c, _ in cards].index(method)
        if by_key:
            self.key(str(k + 1))
        else:
            cards[k][2].click()
        letter = cards[k][0]
        # The server has acknowledged it (the page records a vote only then); the page may already
        # have moved on to the next sample, so the card's highlight is not waited for.
        self.wait.until(lambda d: d.execute_script(f"return state.votes['{i}'] === '{letter}'"))
        return letter

    def finish(self):
        self.wait.until(lambda d: d.find_element(By.ID, "finish").is_enabled())
        self.d.find_element(By.ID, "finish").click()
        self.wait.until(lambda d: d.find_element(By.ID, "done").is_displayed())


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    dmgn = os.path.abspath(sys.argv[1])
    require_chromium()
    base = os.environ.get("DMGN_TEST_TMP") or tempfile.gettempdir()
    os.makedirs(base, exist_ok=True)
    root = tempfile.mkdtemp(prefix="study_browser_", dir=base)
    shots = os.path.join(base, "study_browser")
    os.makedirs(shots, exist_ok=True)
    make_data(root)
    store = os.path.join(root, "runs.sqlite")
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    runs = train_runs(dmgn, src, root, store)
    mine = ["--set", 'datasets.mine.adapter="paired"', "--set", f'datasets.mine.root="{root}/data"',
            "--set", 'datasets.mine.task="reflection"', "--set", "runtime.progress=false",
            "--set", "runtime.threads=1"]
    refs = references(dmgn, src, root, store, runs, mine)
    methods = ",".join(f"{m}=run:{runs[m][0]}" for m in METHODS) + ",Input=input"
    create = [dmgn, "study", "create", "browser", "--store", store, "--samples", str(SAMPLES), "--seed", "4",
              "--methods", methods, "--dataset", "mine",
              "--config", os.path.join(src, "experiments", "quickstart.toml")] + mine
    subprocess.run(create, check=True, cwd=src)

    server = subprocess.Popen([dmgn, "study", "serve", "browser", "--store", store, "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=src)
    drivers = []
    try:
        url = None
        t0 = time.time()
        while url is None and time.time() - t0 < 60:
            line = server.stdout.readline()
            if not line:
                break
            print("serve:", line.rstrip())
            if line.startswith("link for subjects: "):
                url = line.split(": ", 1)[1].strip()
        assert url and url.startswith("http://127.0.0.1:"), f"no link from dmgn study serve ({url})"
        threading.Thread(target=lambda: [print("serve:", l.rstrip()) for l in server.stdout], daemon=True).start()
        token = url.split("?t=", 1)[1]
        origin = url.split("/?", 1)[0]

        cache, lock = {}, threading.Lock()
        profile = lambda: tempfile.mkdtemp(prefix="chromium_", dir=root)

        # 1. One subject: clicks and keys, a changed vote, zoom, finish; markup in the name stays text.
        d = browser(profile())
        drivers.append(d)
        name = 'Ann <img src=x onerror="document.title=\'pwned\'"> & <b>co</b>'
        ann = Subject(d, url, cache, lock, refs)
        ann.join(name)
        assert ann.text("who") == name, ann.text("who")
        assert not d.find_elements(By.CSS_SELECTOR, "#who *"), "markup in the name was rendered"
        for i in range(SAMPLES):
            ann.vote(i, "DMGN", by_key=(i % 2 == 1))
        ann.wait.until(lambda _: ann.text("progress") == f"{SAMPLES} of {SAMPLES} voted")
        d.find_elements(By.CSS_SELECTOR, "#dots button")[2].click()  # back to sample 3
        green = ann.vote(2, "ERRNet", by_key=True)
        # Every sample has a vote, so the page stays here and highlights the new choice.
        ann.wait.until(lambda d: "chosen" in d.find_element(
            By.CSS_SELECTOR, f'#grid .card[data-letter="{green}"]').get_attribute("class"))
        assert len(d.find_elements(By.CSS_SELECTOR, "#grid .card.chosen")) == 1
        assert ann.text("progress") == f"{SAMPLES} of {SAMPLES} voted"
        d.save_screenshot(os.path.join(shots, "vote.png"))
        # Nothing the browser holds names a method or its folder: page, state, image addresses.
        held = d.page_source + d.execute_script("return JSON.stringify(state)")
        for secret in METHODS + ("run:", root):
            assert secret not in held, f"'{secret}' reached the browser"
        # Zoom: Z, then a click on an image opens one region of every version at full resolution.
        ann.key("z")
        ann.cards()[0][2].click()
        ann.wait.until(lambda d: d.find_element(By.ID, "zoom").is_displayed())
        canvases = d.find_elements(By.CSS_SELECTOR, "#zoom canvas")
        assert len(canvases) == 5, len(canvases)
        assert d.execute_script("""const c = document.querySelector('#zoom canvas');
            const p = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let s = 0; for (let i = 0; i < p.length; i += 4) s += p[i]; return s;""") > 0, "zoom drew nothing"
        d.save_screenshot(os.path.join(shots, "zoom.png"))
        ann.key("\ue00c")  # Escape
        ann.wait.until(lambda d: not d.find_element(By.ID, "zoom").is_displayed())
        assert d.find_element(By.ID, "zoom-toggle").get_attribute("class").find("primary") < 0
        ann.finish()
        assert name in ann.text("done-text")
        assert d.title != "pwned" and not d.find_elements(By.CSS_SELECTOR, "#done-text *")
        d.save_screenshot(os.path.join(shots, "done.png"))

        # 2. Two subjects at once.
        plans = {"Bo": ["DMGN"] * 4 + ["IBCLN"] * 2, "Cy": ["IBCLN"] * SAMPLES}
        errors = []

        def run(subject_name, plan, driver):
            try:
                s = Subject(driver, url, cache, lock, refs)
                s.join(subject_name)
                for i, method in enumerate(plan):
                    if subject_name == "Bo" and i == 3:
                        # A closed browser loses nothing: a new one, the same name, on at sample 4.
                        driver.quit()
                        driver = browser(profile())
                        drivers.append(driver)
                        s = Subject(driver, url, cache, lock, refs)
                        s.join(subject_name)
                        s.wait.until(lambda _: s.text("progress") == f"3 of {SAMPLES} voted")
                    s.vote(i, method, by_key=(i % 3 == 0))
                s.finish()
            except Exception:  # reported below
                errors.append(f"{subject_name}: {traceback.format_exc()}")

        pair = [browser(profile()), browser(profile())]
        drivers.extend(pair)
        threads = [threading.Thread(target=run, args=(n, p, dr)) for (n, p), dr in zip(plans.items(), pair)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)
        assert not errors, errors

        # Invalid requests store nothing.
        def post(path, body, t=token):
            req = urllib.request.Request(f"{origin}{path}?t={t}", data=body.encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code
        assert post("/api/vote", '{"subject": "x", "sample": 0, "choice": "A"}', "wrong") == 403
        assert post("/api/vote", '{"subject": ', token) == 400
        assert post("/api/join", '{"name": "Cy"}', token) == 409  # finished

        # 3. Exactly these votes in the store.
        db = sqlite3.connect(store)
        methods = dict(db.execute("SELECT position, name FROM study_methods"))
        rows = db.execute("SELECT s.name, v.sample, v.method, v.shown_order, v.revisions FROM study_votes v "
                          "JOIN study_subjects s ON s.id = v.subject_id ORDER BY s.id, v.sample").fetchall()
        expected = {name: ["DMGN", "DMGN", "ERRNet", "DMGN", "DMGN", "DMGN"], **plans}
        got = {}
        for subject_name, sample, method, order, revisions in rows:
            got.setdefault(subject_name, [None] * SAMPLES)[sample] = methods[method]
            assert sorted(int(x) for x in order.split(",")) == [0, 1, 2, 3], order
            assert revisions == (1 if (subject_name, sample) == (name, 2) else 0), (subject_name, sample, revisions)
        assert len(rows) == 18, rows
        assert got == expected, got
        finished = db.execute("SELECT COUNT(*) FROM study_subjects WHERE finished_at IS NOT NULL").fetchone()[0]
        assert finished == 3, finished

        exported = subprocess.run([dmgn, "study", "export", "browser", "--store", store], check=True,
                                  capture_output=True, text=True, cwd=src).stdout
        rows = list(csv.DictReader(l for l in exported.splitlines() if not l.startswith("#")))
        assert len(rows) == 18, exported
        changed = [r for r in rows if r["revisions"] == "1"]
        assert len(changed) == 1 and changed[0]["subject"] == name and changed[0]["method"] == "ERRNet", changed
        assert changed[0]["sample"] == "3" and len(changed[0]["shown_order"].split(" | ")) == 4, changed

        out = subprocess.run([dmgn, "report", "table4", "--study", "browser", "--store", store, "--format", "csv"],
                             check=True, capture_output=True, text=True, cwd=src).stdout
        print(out)
        table = {r[0]: r for r in csv.reader(l for l in out.splitlines() if not l.startswith("#"))}
        head = table["Method"]
        col = lambda row, h: table[row][head.index(h)]
        assert [col(m, "Share (ours)") for m in ("DMGN", "IBCLN", "ERRNet", "Input")] == \
            ["50.0%", "44.4%", "5.6%", "0.0%"]
        assert [col(m, "Winning samples (ours)") for m in ("DMGN", "IBCLN", "ERRNet", "Input", "Tied")] == \
            ["3", "2", "0", "0", "1"]
        assert col("DMGN", "Share (paper)") == "53.2%" and col("IBCLN", "Share (paper)") == "19.0%"
        assert col("Tied", "Winning samples (paper)") == "2"
    finally:
        for d in drivers:
            try:
                d.quit()
            except Exception:
                pass
        server.send_signal(signal.SIGINT)
        try:
            code = server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            code = "killed"
    assert code == 0, f"dmgn study serve exited {code} on SIGINT"
    print(f"study browser check passed; screenshots in {shots}")


if __name__ == "__main__":
    main()
