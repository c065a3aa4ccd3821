#!/bin/bash
# The GPU check (issue 32's plan): two device calls on one lease, on the same card. Call 1 from
# a bare machine (about 9 minutes of the call's 10, the start not counted) for what matters
# most; call 2 on the still-warm machine, reusing call 1's build and store, for the rest. From
# the repository root, with the bundle of tools/gpu_bundle.sh carried along:
#
#   here:   tools/gpu_bundle.sh            (once; writes the git-ignored .gpu_bundle/, ~31 MB)
#   device: run(command="tools/gpu_check.sh", carry=[".gpu_bundle"], timeout_s=600)
#           run(command="GPU_CHECK_CALL=2 tools/gpu_check.sh", carry=[".gpu_bundle"], timeout_s=300)
#
# Steps, in this order (GPU_CHECK_STEPS selects a subset; GPU_CHECK_TARGET builds one CMake
# target only, e.g. dmgn). Each has its own time limit and is skipped, said so, when what is
# left of the call's budget (GPU_CHECK_BUDGET: 540 s for call 1, 240 s for call 2) is less:
# call 1 (default steps: build gputests bench train bench_log)
#   build    configure and build dmgn + tests against python3's CUDA LibTorch 2.x (its fmt, its
#            NCCL) and the bundle's prebuilt static OpenCV and Debian headers, into build-gpu/;
#   gputests the Gpu.* (the fused device Adam, log-mode steps that never wait), Execution.*,
#            MetricsSpec.*, Distributed.*, Polyphase.*, Model.Head*, DeviceAdam.*, HostSync.* and
#            Build.Std* cases (GPU_CHECK_TESTS: another ctest -R regex);
#   bench    DMGN: `dmgn bench model` the way we expect fastest (channels-last,
#            runtime.head_taps="always"), fp32 and bf16, inference at 256 and 512 (eager and CUDA
#            graphs), forward+backward and the whole training step at batch 4 x 256, the MAC rate
#            against the measured GEMM ceiling, a kernel profile at 512; the official code timed
#            and profiled the same way (tools/peer_bench.py) and the ratios (tools/peer_compare.py);
#   train    a quickstart-sized run on CUDA started by torchrun, killed (SIGKILL) after its first
#            checkpoint, resumed to the end, found completed in the store (tools/gpu_train_check.sh);
#   bench_log the training step again under runtime.host_sync="log", eager and as a CUDA graph of
#            the whole step (call 2 runs it first when call 1's store has no such row);
# call 2 (default steps: systems loader compile train_log parity variants suite)
#   systems  Location-aware SIRR, Physics-GAN and MBN (every task path) and R-MBN: ours
#            (`dmgn bench model`, inference at 256, forward+backward and training step at 4 x 256,
#            fp32 and bf16) and their reference code (tools/peer_bench_systems.py), the ratios;
#   loader   `dmgn bench data` for each system's training setting at 256 crops on every core,
#            beside what its CUDA training step consumes;
#   compile  the official DMGN model under torch.compile with static shapes (peer_bench.py
#            --compile; compile time stored apart), fwd+bwd at 4 x 256 and inference at 512;
#   train_log the torchrun kill-and-resume run again under runtime.host_sync="log";
#   parity   our outputs vs the official code's on imported weights, on the GPU (fp32, TF32 off),
#            for the three tasks and for reflection with the head's polyphase taps;
#   variants bench model with the other layouts and head_taps="never";
#   suite    the rest of the test suite, in what is left.
#   nan      (only when asked for) the paper-size training step under variations (TF32 off,
#            cuDNN search off, no critic, no NDM normalisation...), one line each.
# Results, 3 files in $OUT (the device tool's output folder; results/gpu_check/out elsewhere):
# summary.txt (what is printed last), logs.tar.gz (this call's step logs), gpu.sqlite (the store
# both calls write, kept in results/gpu_check/ between them: benchmark rows of every
# implementation, the training runs). A step that fails is reported and the next one still runs
# (a failed build stops only what needs the binaries); the exit status is the number of failed
# steps.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
B="$ROOT/.gpu_bundle"
CALL=${GPU_CHECK_CALL:-1}
O="${OUT:-$ROOT/results/gpu_check/out}"
L="$ROOT/results/gpu_check/logs$CALL"
rm -rf "$L"
mkdir -p "$O" "$L"
STORE="$ROOT/results/gpu_check/gpu.sqlite"  # both calls' rows; copied to $O at the end
[ "$CALL" = 1 ] && rm -f "$STORE"
SUMMARY="$O/summary.txt"
: >"$SUMMARY"
J=$(nproc)
FAILED=0
T_START=$SECONDS
if [ "$CALL" = 1 ]; then
  STEPS=" ${GPU_CHECK_STEPS:-build gputests bench train bench_log} "
  BUDGET=${GPU_CHECK_BUDGET:-540}
else
  STEPS=" ${GPU_CHECK_STEPS:-systems loader compile train_log parity variants suite} "
  BUDGET=${GPU_CHECK_BUDGET:-240}
fi
want() { [[ "$STEPS" == *" $1 "* ]]; }
say() { echo "$*" | tee -a "$SUMMARY"; }
left() { echo $((BUDGET - (SECONDS - T_START))); }
pack() {
  tar -czf "$O/logs.tar.gz" --exclude='*.ckpt' --exclude='runs' --exclude='parity' -C "$L" . 2>/dev/null
  [ -f "$STORE" ] && cp "$STORE" "$O/gpu.sqlite"
}
trap pack EXIT
step() {  # step NAME LIMIT_S COMMAND...: runs with a time limit (at most what is left of the
  local name=$1 limit=$2  # budget; skipped under 20 s), logs to $L/NAME.log, reports
  shift 2
  local t0=$SECONDS
  if [ "$(left)" -lt 20 ]; then
    say "   SKIPPED $name: $(left) s left of the call's ${BUDGET} s"
    return
  fi
  [ "$limit" -gt "$(left)" ] && limit=$(left)
  echo "== $name: $*" >>"$L/commands.txt"
  if timeout -k 10 "$limit" "$@" >"$L/$name.log" 2>&1; then
    say "   ok      $name ($((SECONDS - t0)) s)"
  else
    local rc=$?
    say "   FAILED  $name ($((SECONDS - t0)) s, exit $rc$([ $rc -eq 124 ] && echo ", time limit ${limit} s")): last lines:"
    tail -12 "$L/$name.log" | sed 's/^/   | /' | tee -a "$SUMMARY"
    FAILED=$((FAILED + 1))
  fi
}

[ -d "$B/usr" ] || { echo "gpu_check: $B missing: run tools/gpu_bundle.sh here and carry .gpu_bundle" >&2; exit 100; }
PY=$(command -v python3)
export DMGN_PYTHON="$PY"  # figure scripts and tests: that machine's python3 has matplotlib and skimage
export PYTHONUNBUFFERED=1
TORCH_PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)') || { echo "gpu_check: python3 has no torch" >&2; exit 100; }
NCCL_INC=$("$PY" -c 'import os, nvidia.nccl as n; print(os.path.join(list(n.__path__)[0], "include"))' 2>/dev/null || true)
say "gpu_check call $CALL: $(git rev-parse --short=12 HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo '+changes') on $(hostname), $J cores"
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "nccl", torch.cuda.nccl.version(), "device", torch.cuda.get_device_name(0))' 2>&1 | tee -a "$SUMMARY"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu,memory.used --format=csv,noheader 2>&1 | tee -a "$SUMMARY"

# The built-in dataset's photos (data.builtin.root defaults to Debian's python3-skimage path).
SK=/usr/lib/python3/dist-packages/skimage/data
if [ ! -d "$SK" ] && [ -d "$B/photos" ]; then mkdir -p "$(dirname "$SK")" && ln -s "$B/photos" "$SK"; fi

# The prebuilt OpenCV's CMake files name the bundle's libraries by the path it was built at.
OCV="$B/opencv-static"
if [ -f "$B/opencv-static.root" ]; then
  OLD=$(cat "$B/opencv-static.root")
  [ "$OLD" != "$B" ] && grep -rl --null "$OLD" "$OCV/lib/cmake" | xargs -0 -r sed -i "s|$OLD|$B|g"
  echo "$B" >"$B/opencv-static.root"
fi

D=build-gpu/dmgn
if want build; then
  [ -f "$OCV/lib/cmake/opencv4/OpenCVConfig.cmake" ] || step opencv 300 tools/build_opencv_static.sh "$B" "$J"
  step configure 120 cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_PREFIX_PATH=$B/usr;$TORCH_PREFIX" "-DOpenCV_DIR=$OCV/lib/cmake/opencv4" \
    -DDMGN_WITH_HDF5=OFF "-DPython3_EXECUTABLE=$PY" ${NCCL_INC:+"-DCMAKE_CXX_FLAGS=-isystem $NCCL_INC"}
  step build 400 cmake --build build-gpu -j "$J" ${GPU_CHECK_TARGET:+--target "$GPU_CHECK_TARGET"}
fi
[ -x "$D" ] || { say "gpu_check: no $D (call 2 reuses call 1's build): the steps that need it are skipped"; FAILED=$((FAILED + 1)); STEPS=" "; }

CUDA=(--set 'runtime.device="cuda"' --set "runtime.store=\"$STORE\"")
FAST=(--set runtime.channels_last=true --set 'runtime.head_taps="always"')
BENCH=(--sizes 256,512 --repeats 20 --warmup 5 --precision fp32,bf16 --fwd-bwd-repeats 20 --train-batch 4 --train-size 256)
OFFICIAL=$([ -f "$B/official/model_reflection.py" ] && echo 1)
if want gputests; then
  step gputests 120 bash -c "cd build-gpu && ctest -R '${GPU_CHECK_TESTS:-^(Gpu|Execution|MetricsSpec|Distributed|Polyphase|DeviceAdam|HostSync)\.|^Model\.Head|^Build\.Std}' -j 8 --output-on-failure --timeout 90"
fi
if want bench; then
  step bench_ours 200 "$D" bench model experiments/table3.toml "${CUDA[@]}" "${FAST[@]}" "${BENCH[@]}" --train-steps 20 \
    --profile 512
  if [ -n "$OFFICIAL" ]; then
    step bench_official 120 "$PY" tools/peer_bench.py "$B/official" --device cuda --precision fp32 bf16 --sizes 256 512 \
      --repeats 20 --warmup 5 --fwd-bwd-repeats 20 --train-batch 4 --train-size 256 --store "$STORE" --profile-size 512
    step compare 30 "$PY" tools/peer_compare.py --store "$STORE"
  else
    say "   FAILED  official code not in the bundle: peer benchmark skipped"; FAILED=$((FAILED + 1))
  fi
fi
if want nan; then
  step nan_matrix 240 tools/gpu_nan_matrix.sh "$D"
fi
if want train; then
  step train_cuda 150 tools/gpu_train_check.sh "$D" "$STORE" "$L/train"
fi
# The training step under host_sync = "log", eager and as a whole-step CUDA graph: last in call 1;
# call 2 runs it first when call 1's store has no such row (call 1 ran out of time).
has_log_rows() {
  "$PY" -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
n = c.execute("SELECT count(*) FROM benchmarks WHERE name = ? AND params LIKE ?", ("train_step_ms", "%host_sync=log%"))
sys.exit(0 if n.fetchone()[0] else 1)' "$STORE" 2>/dev/null
}
if want bench_log || { [ "$CALL" != 1 ] && want systems && ! has_log_rows; }; then
  step bench_ours_log 60 "$D" bench model experiments/table3.toml "${CUDA[@]}" "${FAST[@]}" --set 'runtime.host_sync="log"' \
    --sizes 256 --repeats 3 --warmup 2 --precision fp32,bf16 --fwd-bwd-repeats 0 --train-batch 4 --train-size 256 \
    --train-steps 20 --no-peak
fi

SYSTEM_CONFIGS=(experiments/location_sirr/base.toml experiments/physics_gan/ours.toml experiments/mbn/base.toml
                experiments/mbn/rmbn.toml)
SYS=(--sizes 256 --repeats 10 --warmup 3 --precision fp32,bf16 --fwd-bwd-repeats 10 --train-batch 4 --train-size 256)
if want systems; then
  step systems_ours 120 "$D" bench model "${SYSTEM_CONFIGS[@]}" "${CUDA[@]}" "${FAST[@]}" "${SYS[@]}" --train-steps 10 \
    --no-peak
  # MBN's other task paths (the config runs its own; the reference times all four).
  for t in rain jpeg haze; do
    step "systems_mbn_$t" 40 "$D" bench model experiments/mbn/base.toml "${CUDA[@]}" "${FAST[@]}" "${SYS[@]}" \
      --no-peak --no-graphs --set "model.path=\"$t\""
  done
  if [ -d "$B/lasirr" ]; then
    step systems_ref 150 "$PY" tools/peer_bench_systems.py "$B" --device cuda --precision fp32 bf16 --sizes 256 \
      --repeats 10 --warmup 3 --fwd-bwd-repeats 10 --train-batch 4 --train-size 256 --store "$STORE" --dmgn "$D"
    step compare_systems 30 "$PY" tools/peer_compare.py --store "$STORE"
  else
    say "   FAILED  the reference code of the other systems is not in the bundle"; FAILED=$((FAILED + 1))
  fi
fi
if want loader; then
  for c in experiments/table3.toml "${SYSTEM_CONFIGS[@]}"; do
    n=$(basename "$(dirname "$c")")_$(basename "$c" .toml)
    step "loader_$n" 40 "$D" bench data "$c" "${CUDA[@]}" "${FAST[@]}" --set data.crop=256 --set "data.workers=$J" \
      --set train.batch_size=4 --batches 60 --warmup 5 --steps 5
  done
fi
if want compile && [ -n "$OFFICIAL" ]; then
  step compile_official 150 "$PY" tools/peer_bench.py "$B/official" --device cuda --precision bf16 fp32 --sizes 512 \
    --repeats 20 --warmup 3 --fwd-bwd-repeats 20 --train-batch 4 --train-size 256 --store "$STORE" --compile
  step compare_compile 30 "$PY" tools/peer_compare.py --store "$STORE"
fi
if want train_log; then
  step train_cuda_log 150 env HOST_SYNC=log tools/gpu_train_check.sh "$D" "$STORE" "$L/train_log"
fi
if want parity && [ -n "$OFFICIAL" ]; then
  step parity_official 90 "$PY" tools/official_parity.py "$B/official" "$L/parity" --size 256 --device cuda --tasks reflection rain haze
  for t in reflection rain haze; do
    step "parity_$t" 60 "$D" parity "$L/parity" --task "$t" --tolerance 1e-3 --set 'runtime.device="cuda"'
  done
  step parity_taps 60 "$D" parity "$L/parity" --task reflection --tolerance 1e-3 --set 'runtime.device="cuda"' \
    --set 'runtime.head_taps="always"'
  rm -rf "$L/parity"
fi
if want variants; then
  VARIANTS=("contiguous taps=always|--set runtime.channels_last=false --set 'runtime.head_taps=\"always\"'"
            "channels-last taps=never|--set runtime.channels_last=true --set 'runtime.head_taps=\"never\"'"
            "contiguous taps=never|--set runtime.channels_last=false --set 'runtime.head_taps=\"never\"'")
  i=0
  for v in "${VARIANTS[@]}"; do
    i=$((i + 1))
    # shellcheck disable=SC2086
    eval "step bench_variant$i 90 \"\$D\" bench model experiments/table3.toml \"\${CUDA[@]}\" ${v#*|} \"\${BENCH[@]}\" --no-peak"
  done
  [ -n "$OFFICIAL" ] && step compare_all 30 "$PY" tools/peer_compare.py --store "$STORE"
fi
if want suite; then
  step suite 600 bash -c "cd build-gpu && ctest -j $J --output-on-failure --timeout 100 -E '^(Gpu|Execution|MetricsSpec|Distributed)\.'"
fi

{
  echo
  for f in "$L"/*.log; do
    n=$(basename "$f" .log)
    case $n in configure|build|opencv|parity_official|suite) continue ;; esac
    echo "--- $n"
    grep -v '^stored in' "$f" | grep -v '^\[rank' | tail -60
  done
  [ -f "$L/suite.log" ] && { echo "--- suite"; grep -E "tests passed|Failed|SEGFAULT|Not Run|Timeout|\*\*\*|Skipped|skipped" "$L/suite.log" | tail -30; }
  echo "gpu_check call $CALL: $FAILED failed step(s) in $((SECONDS - T_START)) s; logs in logs.tar.gz, store gpu.sqlite"
} | tee -a "$SUMMARY"
exit "$FAILED"
