#!/usr/bin/env bash
# Make the shipped demo models from scratch: render the training/validation sets, build the demo
# feature map and the retrieval index (each kept when it exists in models/), train PoseNet and
# Sun-BCNN (in parallel, one CPU thread each) and export them with calibrated uncertainty into
# models/. Everything else lands in out/ (gitignored).
# Takes about an hour and a half on 2 cores. Usage: tools/train_demo_models.sh [posenet_epochs] [sun_epochs]
set -euo pipefail
cd "$(dirname "$0")/.."
POSENET_EPOCHS=${1:-20}
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
synth out/demo_survey --trajectory survey --seed 5
# PoseNet learns from the robot's mapping drives: the survey route on four days (one overcast;
# out/demo_survey is the August evening's), and scales its covariance on a drive of a fifth day
# (tools/render_another_day.sh renders the days it is tested on)
synth out/passes/may_morning --trajectory survey --seed 6 --set sun.drive_start_utc=2026-05-12T13:00:00
synth out/passes/october_overcast --trajectory survey --seed 7 \
  --set sun.drive_start_utc=2026-10-05T17:00:00 --set lighting.overcast_drives=true
synth out/passes/july_noon --trajectory survey --seed 8 --set sun.drive_start_utc=2026-07-15T16:30:00
synth out/calib_day --trajectory kidnap --seconds 60 --seed 97 --set sun.drive_start_utc=2026-09-20T14:00:00
synth out/demo_sun_val --frames 800 --seed 7
synth out/demo_sun_test --frames 800 --seed 11

# The feature map: every street driven both ways on the four days (a map of one day's light fails
# on another day's), every 2nd frame, without the 2D observations.
[ -f models/demo_map.npz ] || $PR build-map --data out/demo_survey out/passes/may_morning \
  out/passes/october_overcast out/passes/july_noon --out models/demo_map.npz \
  --stride 2 --no-observations

# Retrieval, the other prior source: the same four mapping drives, scaled on the fifth day.
[ -f models/retrieval_demo.npz ] || $PR build-retrieval --data out/demo_survey out/passes/may_morning \
  out/passes/october_overcast out/passes/july_noon --dims 128 --calibration-data out/calib_day \
  --out models/retrieval_demo.npz

$PR train posenet --data out/demo_survey out/passes/may_morning \
  out/passes/october_overcast out/passes/july_noon --val out/calib_day --out out/posenet_demo \
  --epochs "$POSENET_EPOCHS" --lr 3e-3 --loss anchors --anchor-spacing 6 --threads 1 \
  > out/posenet_demo.log 2>&1 &
posenet=$!
$PR train sun --data out/demo_train2 --val out/demo_sun_val --out out/sun_demo \
  --epochs "$SUN_EPOCHS" --threads 1 > out/sun_demo.log 2>&1 &
sun=$!
wait $sun
$PR export --checkpoint out/sun_demo/checkpoint.pt --out models/sun_bcnn_demo.onnx \
  --calibration-data out/demo_sun_val
wait $posenet
$PR export --checkpoint out/posenet_demo/checkpoint.pt --out models/posenet_demo.onnx \
  --calibration-data out/calib_day
