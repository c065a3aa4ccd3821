#!/bin/bash
# A quickstart-sized training run on CUDA launched by torchrun (the GPU machine's torch), killed
# with SIGKILL once its first checkpoint is written, resumed with --resume and the same
# overrides, and found completed in the store. Used by tools/gpu_check.sh; runnable anywhere
# torchrun and a CUDA build of dmgn are:
#
#   [DEVICE=cpu] [LAUNCH=env] tools/gpu_train_check.sh DMGN_BINARY STORE WORK_DIR [STEPS]
# HOST_SYNC (default step) is runtime.host_sync. DEVICE (default cuda) is runtime.device;
# LAUNCH=env sets the torchrun variables itself instead
# of starting torchrun: with DEVICE=cpu, what checks this script on a machine without a GPU (or
# whose torchrun is broken, like Debian's torch 1.13 under Python 3.11).
set -uo pipefail
D=${1:?usage: gpu_train_check.sh DMGN_BINARY STORE WORK_DIR [STEPS]}
STORE=${2:?store}
W=${3:?work dir}
STEPS=${4:-400}
mkdir -p "$W"
PY=$(command -v python3)
SETS=(--set "runtime.device=\"${DEVICE:-cuda}\"" --set "runtime.store=\"$STORE\"" --set "runtime.out_dir=\"$W/runs\""
      --set "train.max_steps=$STEPS" --set "train.checkpoint_every=$((STEPS / 4))" --set "train.val_every=$((STEPS / 2))"
      --set "runtime.log_every=$((STEPS / 8))" --set 'run.name="gpu_train_check"'
      --set "runtime.host_sync=\"${HOST_SYNC:-step}\"")
start_run() {  # start_run LOG [--resume]: torchrun, one worker, in its own process group; sets pid
  if [ "${LAUNCH:-torchrun}" = env ]; then
    setsid env WORLD_SIZE=1 RANK=0 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=29531 \
      "$D" train experiments/quickstart.toml "${SETS[@]}" "${@:2}" >"$W/$1" 2>&1 &
  else
    setsid "$PY" -m torch.distributed.run --standalone --nproc_per_node 1 --no_python \
      "$D" train experiments/quickstart.toml "${SETS[@]}" "${@:2}" >"$W/$1" 2>&1 &
  fi
  pid=$!
}

t0=$SECONDS
start_run first.log
for _ in $(seq 1 900); do
  compgen -G "$W/runs/*/checkpoints/*" >/dev/null && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if ! compgen -G "$W/runs/*/checkpoints/*" >/dev/null; then
  echo "gpu_train_check: no checkpoint appeared; the run's log:"; cat "$W/first.log"; exit 1
fi
kill -9 -- -"$pid" 2>/dev/null
wait "$pid" 2>/dev/null
# torchrun's workers live in a session of their own (seen on the GPU machine: the worker went on
# training after its launcher's group was killed, and the resume was rightly refused by the
# run's lock). A crashed machine takes them all: kill every process of this run, and wait.
pattern="runtime.out_dir=\"$W/runs\""
survivors=$(pgrep -f -- "$pattern" | wc -l)
pkill -9 -f -- "$pattern" 2>/dev/null
for _ in $(seq 1 150); do pgrep -f -- "$pattern" >/dev/null || break; sleep 0.1; done
if pgrep -f -- "$pattern" >/dev/null; then echo "gpu_train_check: the run's processes survive SIGKILL"; exit 1; fi
echo "killed the torchrun process group and $survivors worker process(es) outside it (SIGKILL) after its first checkpoint, $((SECONDS - t0)) s in:"
ls "$W"/runs/*/checkpoints/
tail -3 "$W/first.log"

t1=$SECONDS
start_run resume.log --resume
wait "$pid"
rc=$?
echo "resumed run: exit $rc in $((SECONDS - t1)) s; its log:"
grep -v '^\s*$' "$W/resume.log" | tail -12
[ $rc -eq 0 ] || exit 1
"$PY" - "$STORE" "$STEPS" <<'PYEOF'
import sqlite3, sys
store, steps = sys.argv[1], int(sys.argv[2])
con = sqlite3.connect(store)
con.row_factory = sqlite3.Row
run = con.execute("SELECT * FROM runs WHERE name = 'gpu_train_check' ORDER BY id DESC LIMIT 1").fetchone()
if run is None:
    sys.exit("gpu_train_check: the run is not in the store")
cols = run.keys()
last = con.execute("SELECT MAX(step) FROM metrics WHERE run_id = ? AND split = 'train'", (run["id"],)).fetchone()[0]
print(f"store: run {run['id']} status={run['status']} device={run['device'] if 'device' in cols else '?'} "
      f"world_size={run['world_size'] if 'world_size' in cols else '?'} last train step {last}")
tests = con.execute("SELECT dataset, name, value FROM metrics WHERE run_id = ? AND split = 'test' ORDER BY rowid",
                    (run["id"],)).fetchall()
for t in tests:
    print(f"  test {t['dataset']} {t['name']} {t['value']:.4f}")
if run["status"] != "completed" or last != steps:
    sys.exit(f"gpu_train_check: expected a completed run at step {steps}")
PYEOF
rc=$?
rm -rf "$W/runs"  # checkpoints and samples: the logs and the store row are what is kept
exit $rc
