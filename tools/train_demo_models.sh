#!/usr/bin/env bash
# Make the shipped demo models from scratch: render the training/validation sets, build the demo
# feature map (kept when models/demo_map.npz exists), train PoseNet and Sun-BCNN (in parallel, one
# CPU thread each) and export them with calibrated uncertainty into models/. Everything else lands
# in out/ (gitignored).
# Takes about an hour on 2 cores. Usage: tools/train_demo_models.sh [posenet_epochs] [sun_epochs]
set -euo pipefail
cd "$(dirname "$0")/.."
POSENET_EPOCHS=${1:-30}
SUN_EPOCHS=${2:-15}
PR=.venv/bin/pose-reloc
SCENE=config/scenes/demo.yaml
mkdir -p out

synth() {  # synth OUT ARGS...: render once, keep what exists
  local out=$1
  shift
  [ -f "$out/poses.csv" ] || $PR synth --scene $SCENE --out "$out" "$@"
}
synth out/demo_train2 --frames 10000 --seed 2
synth out/demo_val --trajectory drive --seconds 30 --seed 99
synth out/demo_sun_val --frames 800 --seed 7
synth out/demo_sun_test --frames 800 --seed 11
synth out/demo_survey --trajectory survey --seed 5

# The feature map: every street driven both ways, every 2nd frame, without the 2D observations.
[ -f models/demo_map.npz ] || $PR build-map --data out/demo_survey --out models/demo_map.npz \
  --stride 2 --no-observations

$PR train posenet --data out/demo_train2 --val out/demo_val --out out/posenet_demo \
  --epochs "$POSENET_EPOCHS" --lr 3e-3 --threads 1 > out/posenet_demo.log 2>&1 &
posenet=$!
$PR train sun --data out/demo_train2 --val out/demo_sun_val --out out/sun_demo \
  --epochs "$SUN_EPOCHS" --threads 1 > out/sun_demo.log 2>&1 &
sun=$!
wait $sun
$PR export --checkpoint out/sun_demo/checkpoint.pt --out models/sun_bcnn_demo.onnx \
  --calibration-data out/demo_sun_val
wait $posenet
$PR export --checkpoint out/posenet_demo/checkpoint.pt --out models/posenet_demo.onnx \
  --calibration-data out/demo_val
