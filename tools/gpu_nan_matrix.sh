#!/bin/bash
# Diagnosis of a non-finite training step on CUDA: the paper-size model's training step (dmgn
# bench model's --train-steps, fp32, batch 4 x 256^2), once as configured and once per variation
# of what differs between CUDA and the CPU or between the parts of the objective. One line each:
# "ok" or the error with its diagnosis (train/nonfinite.h). Used by tools/gpu_check.sh (step nan).
#
#   tools/gpu_nan_matrix.sh DMGN_BINARY [STEPS]
set -uo pipefail
D=${1:?usage: gpu_nan_matrix.sh DMGN_BINARY [STEPS]}
STEPS=${2:-8}
S=$(mktemp -d)
base=(bench model experiments/table3.toml --set 'runtime.device="cuda"' --set "runtime.store=\"$S/nan.sqlite\""
      --sizes 64 --repeats 1 --warmup 1 --fwd-bwd-repeats 0 --no-peak --no-graphs --precision fp32
      --train-steps "$STEPS" --train-batch 4 --train-size 256)
while IFS='|' read -r name sets; do
  [ -z "$name" ] && continue
  args=()
  for s in $sets; do args+=(--set "$s"); done
  out=$("$D" "${base[@]}" "${args[@]}" 2>&1)
  if [ $? -eq 0 ]; then
    echo "ok      $name: $(echo "$out" | grep -o 'training : .*' | head -1)"
  else
    echo "FAILED  $name: $(echo "$out" | grep -E 'failed|error' | tail -1)"
  fi
done <<'LIST'
as configured|
tf32 off|runtime.tf32=false
cudnn search off|runtime.cudnn_benchmark=false
channels-last|runtime.channels_last=true
head taps in training too|runtime.head_taps="always"
no critic|loss.refine.adversarial=0.0
critic clipped, no penalty|loss.adversarial.lipschitz="clip"
critic without BatchNorm|discriminator.norm="none"
NDM per-sample|model.refine.ndm.normalise="sample"
NDM unnormalised|model.refine.ndm.normalise="none"
no perceptual terms|loss.refine.perceptual=0.0 loss.coarse.perceptual=0.0
loader on the main thread|data.workers=0
LIST
rm -rf "$S"
