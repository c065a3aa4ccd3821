#!/usr/bin/env python3
"""Sweeps on a real one-node Slurm cluster that this test starts and stops itself.

    check_slurm.py DMGN_BINARY

Starts munged (its own key and socket), slurmctld and slurmd from Debian's packages with a
slurm.conf in a scratch folder and free ports, so that it never meets a cluster already
running, then:
  1. `dmgn sweep S --executor slurm` submits a 3-run tiny Table I sweep (DMGN, seeds 0-2) as one
     job array and returns; submitting again at once submits nothing (all queued);
  2. run 2 is sent SIGUSR1 mid-training (`scancel -s USR1`, what Slurm's --signal does before
     the time limit): it checkpoints, exits 4, its script requeues it, and it resumes from the
     checkpoint; its final weights (parameters_fnv1a) and every stored metric equal those of
     the same run trained locally without interruption;
  3. a run that fails for another reason (a CUDA device on this CPU machine) is not requeued
     and `sweep status` reports it FAILED with its log;
  4. `srun -n 2 dmgn train ...`: two Gloo ranks from Slurm's variables, one run in the store;
  5. `sweep status` gathers the runs' own stores into the main store, idempotently (again:
     nothing new), and `dmgn report table1` reads the gathered runs.
Every daemon it started is stopped by its pid, also when a check fails, after its jobs are
cancelled; a job left behind (its slurmctld gone) is killed with every process below it. Exit 77
(skipped) when not root or the packages are missing (scripts/setup.sh installs them).
"""
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

SKIP = 77
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def skip(why):
    print("skipped:", why)
    sys.exit(SKIP)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny_sets(steps):
    return ["model.widths=[4, 8, 8]", "model.bottleneck_cells=1", "model.vestigial=false", "model.head.taps=[1]",
            "model.refine.dilations=[1, 2]", "loss.perceptual.taps=[1]", "loss.perceptual.weights=[1.0]",
            "discriminator.ndf=4", "discriminator.layers=2", "model.aca.reduction=2", "data.crop=32",
            "data.builtin.train_pairs=16", "data.builtin.heldout_pairs=2", "data.builtin.heldout_size=32",
            "data.workers=0", "train.batch_size=2", "train.val_every=0", "train.checkpoint_every=0",
            "runtime.threads=1", "runtime.progress=true", "runtime.log_every=5", f"train.max_steps={steps}"]


class Cluster:
    """munged + slurmctld + slurmd in `dir`; stop() kills each by its pid."""

    def __init__(self, dir):
        self.dir = dir
        self.pids = {}
        host = socket.gethostname().split(".")[0]
        self.host = host
        self.conf = os.path.join(dir, "slurm.conf")
        self.sock = os.path.join(dir, "munge.socket")
        for sub in ("state", "spool", "log"):
            os.makedirs(os.path.join(dir, sub), exist_ok=True)
        key = os.path.join(dir, "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o400)
        self.env = dict(os.environ, SLURM_CONF=self.conf)
        cpus = os.cpu_count() or 2
        with open(self.conf, "w") as f:
            f.write(f"""ClusterName=dmgntest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={self.sock}
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
JobRequeue=1
MinJobAge=3600
ReturnToService=2
MpiDefault=none
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/log/slurmctld.log
SlurmdLogFile={dir}/log/slurmd.log
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
""")
        self.munge_args = ["munged", "--force", f"--socket={self.sock}", f"--key-file={key}",
                           f"--pid-file={dir}/munged.pid", f"--log-file={dir}/log/munged.log",
                           f"--seed-file={dir}/munge.seed"]

    def start(self):
        self._daemon("munged", self.munge_args, f"{self.dir}/munged.pid")
        self._daemon("slurmctld", ["slurmctld", "-f", self.conf], f"{self.dir}/slurmctld.pid")
        self._daemon("slurmd", ["slurmd", "-f", self.conf], f"{self.dir}/slurmd.pid")
        deadline = time.time() + 60
        while time.time() < deadline:
            r = subprocess.run(["sinfo", "-h", "-o", "%T"], env=self.env, capture_output=True, text=True)
            if r.returncode == 0 and r.stdout.strip() in ("idle", "mixed", "allocated"):
                return
            time.sleep(0.5)
        raise AssertionError(f"the node never came up: sinfo says {r.stdout.strip() or r.stderr.strip()}; logs in "
                             f"{self.dir}/log")

    def _daemon(self, name, args, pidfile):
        r = subprocess.run(args, env=self.env, capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f"{name} did not start: {r.stdout}{r.stderr}")
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                self.pids[name] = int(open(pidfile).read().split()[0])
                return
            except (OSError, ValueError, IndexError):
                time.sleep(0.1)
        raise AssertionError(f"{name} wrote no pid file {pidfile}")

    def stop(self):
        # Jobs first (a check that failed mid-run leaves some): cancelled while the daemons live.
        if "slurmctld" in self.pids:
            subprocess.run(["scancel", "--partition", "debug"], env=self.env, capture_output=True, timeout=30)
            deadline = time.time() + 15
            while time.time() < deadline:
                r = subprocess.run(["squeue", "-h"], env=self.env, capture_output=True, text=True, timeout=30)
                if r.returncode != 0 or not r.stdout.strip():
                    break
                time.sleep(0.3)
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.pids.pop(name, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
                for _ in range(100):
                    os.kill(pid, 0)
                    time.sleep(0.05)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # What is left of this cluster's jobs (its slurmctld died first): the slurmstepd processes
        # whose environment names this cluster's slurm.conf, whatever runs from its folder, and
        # every process below them.
        mine = f"SLURM_CONF={self.conf}".encode()
        parent, roots = {}, []
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    parent[int(pid)] = int(f.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
                env = b""
                if cmd.startswith("slurmstepd"):
                    with open(f"/proc/{pid}/environ", "rb") as f:
                        env = f.read()
            except (OSError, ValueError, IndexError):
                continue
            if self.dir in cmd or mine in env.split(b"\0"):
                roots.append(int(pid))
        doomed = set(roots)
        while True:
            more = {p for p, pp in parent.items() if pp in doomed and p not in doomed and p != os.getpid()}
            if not more:
                break
            doomed |= more
        for pid in doomed:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def run(self, *args, check=True, timeout=120):
        r = subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
        return r

    def job(self, job_id):
        """scontrol's record of one array task "<job>_<task>" as a dict."""
        r = self.run("scontrol", "-o", "show", "job", job_id, check=False)
        rec = {}
        for w in r.stdout.split():
            if "=" in w:
                k, v = w.split("=", 1)
                rec[k] = v
        return rec


def wait_for(what, pred, timeout, poll=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_slurm.py DMGN_BINARY")
    dmgn = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        skip("not root: the one-node cluster runs its daemons as root (SlurmUser=root)")
    missing = [t for t in ("munged", "slurmctld", "slurmd", "sbatch", "srun", "scontrol", "scancel", "sinfo")
               if not shutil.which(t)]
    if missing:
        skip(f"{', '.join(missing)} missing (apt install slurmctld slurmd slurm-client munge; scripts/setup.sh)")
    base = os.environ.get("DMGN_TEST_TMP") or tempfile.gettempdir()
    os.makedirs(base, exist_ok=True)
    dir = tempfile.mkdtemp(prefix="slurm_", dir=base)
    cluster = Cluster(os.path.join(dir, "cluster"))
    ok = False
    t0 = time.time()
    try:
        cluster.start()
        print(f"cluster up in {time.time() - t0:.1f} s ({cluster.conf})")
        checks(cluster, dmgn, dir)
        ok = True
    finally:
        cluster.stop()
        print(f"{'passed' if ok else 'FAILED'} in {time.time() - t0:.1f} s; daemons stopped; files in {dir}")
    shutil.rmtree(dir, ignore_errors=True)


def write_sweep(path, name, seeds, sets, extra=""):
    lines = [f"[sweep]\nname = \"{name}\"\nconfig = '{ROOT}/experiments/table1/dmgn.toml'\nseeds = {seeds}\nset = ["]
    lines += [f"  '{s}'," for s in sets] + ["]\n" + extra]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def checks(cluster, dmgn, dir):
    t0 = time.time()

    def stage(what):
        print(f"[{time.time() - t0:6.1f} s] {what}", flush=True)
    out = os.path.join(dir, "results")
    steps = 160
    sweep = os.path.join(dir, "tiny.toml")
    write_sweep(sweep, "tiny_slurm", "[0, 1, 2]", tiny_sets(steps))
    common = ["--out-root", out, "--cpus-per-task", "1", "--time", "10", "--signal-before", "60"]

    # 1. Submit: one array of 3 tasks; again at once: nothing to submit.
    stage('Submit: one array of 3 tasks; again at once: nothing to subm')
    r = cluster.run(dmgn, "sweep", sweep, "--executor", "slurm", *common)
    print(r.stdout, end="")
    m = re.search(r"submitted job array (\d+) \(3 task", r.stdout)
    assert m, r.stdout
    job = m.group(1)
    log_dir = os.path.join(out, "sweeps", "tiny_slurm")
    scripts = [f for f in os.listdir(os.path.join(log_dir, "slurm")) if f.endswith(".sbatch")]
    assert len(scripts) == 1, scripts
    script = open(os.path.join(log_dir, "slurm", scripts[0])).read()
    assert "#SBATCH --array=1,2,3\n" in script and "#SBATCH --signal=USR1@60\n" in script, script
    r = cluster.run(dmgn, "sweep", sweep, "--executor", "slurm", *common)
    assert "0 done, 3 queued in Slurm" in r.stdout and "submitted job array" not in r.stdout, r.stdout

    # 2. Run 2: SIGUSR1 mid-training -> checkpoint, exit 4, requeued, resumed.
    stage('Run 2: SIGUSR1 mid-training -> checkpoint, exit 4, requeued,')
    log2 = os.path.join(log_dir, "slurm", "run-002.log")

    def midway():
        try:
            steps_seen = [int(s) for s in re.findall(r"step (\d+)/%d" % steps, open(log2).read())]
        except OSError:
            return False
        return steps_seen and 20 <= max(steps_seen) < steps - 60
    wait_for("run 2 to train 20 steps", midway, 90, poll=0.05)
    cluster.run("scancel", "-s", "USR1", f"{job}_2")
    rec = wait_for("run 2 to be requeued", lambda: (lambda j: j if j.get("Restarts") == "1" else None)(
        cluster.job(f"{job}_2")), 60)
    print(f"run 2 requeued: JobState={rec.get('JobState')} Reason={rec.get('Reason')}")
    # Slurm holds a requeued job back for two minutes (BeginTime); let it start now.
    cluster.run("scontrol", "update", f"JobId={job}_2", "StartTime=now")
    status_cmd = [dmgn, "sweep", "status", sweep, "--out-root", out]
    r = cluster.run(*status_cmd)
    print(r.stdout, end="")
    assert "requeued x1" in r.stdout, r.stdout

    # 3. A run that fails for another reason: reported failed with its log, not requeued.
    stage('A run that fails for another reason: reported failed with it')
    bad = os.path.join(dir, "bad.toml")
    write_sweep(bad, "bad_slurm", "[0]", tiny_sets(8) + ['runtime.device="cuda"'])
    r = cluster.run(dmgn, "sweep", bad, "--executor", "slurm", *common)
    bad_job = re.search(r"submitted job array (\d+)", r.stdout).group(1)

    # 4. Two ranks under srun, from Slurm's variables (while the array waits or runs).
    stage("Two ranks under srun, from Slurm's variables (while the arra")
    srun_out = os.path.join(dir, "srun")
    try:  # rank 0's host is the node's name; where it does not resolve, a real cluster's would
        socket.gethostbyname(cluster.host)
    except OSError:
        print(f"host name {cluster.host} does not resolve here: MASTER_ADDR=127.0.0.1 for the srun check")
        cluster.env["MASTER_ADDR"] = "127.0.0.1"
    r = cluster.run("srun", "-n", "2", "--cpus-per-task", "1", dmgn, "train",
                    f"{ROOT}/experiments/table1/dmgn.toml", *sum([["--set", s] for s in tiny_sets(10)], []),
                    "--out-root", srun_out, timeout=300)
    con = sqlite3.connect(os.path.join(srun_out, "runs.sqlite"))
    rows = con.execute("SELECT id, status, world_size FROM runs").fetchall()
    assert rows == [(1, "completed", 2)], rows
    prov = dict(con.execute("SELECT key, value FROM provenance WHERE run_id = 1").fetchall())
    assert prov.get("ranks_in_sync") == "true", prov
    con.close()
    print("srun -n 2: one run, world size 2, ranks in sync")

    def all_done():
        s = cluster.run(*status_cmd).stdout
        return s if "3 done," in s else None
    text = wait_for("the 3 runs to complete", all_done, 240, poll=1)
    print(text, end="")
    r = cluster.run(dmgn, "sweep", "status", bad, "--out-root", out)
    print(r.stdout, end="")
    wait_for("the failing run to fail", lambda: cluster.job(f"{bad_job}_1").get("JobState") == "FAILED", 60)
    r = cluster.run(dmgn, "sweep", "status", bad, "--out-root", out)
    bad_log = os.path.join(out, "sweeps", "bad_slurm", "slurm", "run-001.log")
    assert "FAILED" in r.stdout and bad_log in r.stdout, r.stdout
    assert cluster.job(f"{bad_job}_1").get("Restarts") == "0"
    assert "cuda" in open(bad_log).read().lower(), open(bad_log).read()
    r = cluster.run(dmgn, "sweep", bad, "--executor", "slurm", *common)
    assert "1 failed" in r.stdout and "submitted job array" not in r.stdout, r.stdout

    # 5. The gathered store: 3 completed runs, once each (status gathers again: nothing new).
    stage('The gathered store: 3 completed runs, once each (status gath')
    main_store = os.path.join(out, "runs.sqlite")
    con = sqlite3.connect(main_store)
    rows = con.execute("SELECT id, seed, status, run_dir FROM runs ORDER BY seed").fetchall()
    assert [(s, st) for _, s, st, _ in rows] == [(0, "completed"), (1, "completed"), (2, "completed")], rows
    assert all(d.startswith(log_dir) for *_, d in rows), rows
    resumed = con.execute("SELECT r.seed, p.value FROM provenance p JOIN runs r ON r.id = p.run_id "
                          "WHERE p.key = 'resumed_at_step'").fetchall()
    assert [s for s, _ in resumed] == [1], resumed
    print(f"run 2 (seed 1) resumed at step {resumed[0][1]}")
    n = con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    con.close()
    r = cluster.run(dmgn, "gather", os.path.join(log_dir, "runs"), "--out-root", out)
    assert "0 run(s) gathered now, 3 already here" in r.stdout, r.stdout

    stage("the requeued run against an uninterrupted one")
    # The requeued run equals one never interrupted: weights and every stored number.
    local = os.path.join(dir, "local")
    subprocess.run([dmgn, "train", f"{ROOT}/experiments/table1/dmgn.toml",
                    *sum([["--set", s] for s in tiny_sets(steps) + ["run.seed=1", 'run.sweep="tiny_slurm"']], []),
                    "--out-root", local], check=True, capture_output=True, timeout=300)

    def numbers(store, seed):
        c = sqlite3.connect(store)
        rid = c.execute("SELECT id FROM runs WHERE seed = ? AND status = 'completed'", (seed,)).fetchone()[0]
        fp = c.execute("SELECT value FROM provenance WHERE run_id = ? AND key = 'parameters_fnv1a'", (rid,)).fetchone()
        # Every number but the speed (it_per_s), which is the machine's, not the run's.
        ms = c.execute("SELECT step, split, dataset, name, value, preset FROM metrics WHERE run_id = ? "
                       "AND name != 'it_per_s' ORDER BY split, name, dataset, step", (rid,)).fetchall()
        c.close()
        return fp, ms
    fp_a, ms_a = numbers(main_store, 1)
    fp_b, ms_b = numbers(os.path.join(local, "runs.sqlite"), 1)
    assert fp_a and fp_a == fp_b, (fp_a, fp_b)
    assert ms_a == ms_b, [(a, b) for a, b in zip(ms_a, ms_b) if a != b][:5]
    assert len(ms_a) > 100, ms_a
    print(f"requeued run == uninterrupted run: weights {fp_a[0]}, {len(ms_a)} metrics equal")

    stage("Table I from the gathered store")
    r = cluster.run(dmgn, "report", "table1", "--store", main_store)
    row = [l for l in r.stdout.splitlines() if l.startswith("| DMGN |")]
    assert len(row) == 1 and "(seeds 0, 1, 2)" in row[0] and " ± " in row[0], r.stdout  # ours: 3 seeds
    print(row[0])
    con = sqlite3.connect(main_store)
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == n
    con.close()


if __name__ == "__main__":
    main()
