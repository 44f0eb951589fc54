#!/usr/bin/env bash
# Render the "another day" test drives of the demo city into out/another_day/: the robot back on
# other dates and hours, each drive changing one more thing as well (overcast sky, the centre of
# the street, the camera turned or higher or lower, the parked vehicles moved), on its own streets
# (60 s kidnap drives, other seeds). `pose-reloc evaluate posenet --another-day out/another_day/*`
# reports each and all together. About a minute on 2 cores. Usage: tools/render_another_day.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PR=.venv/bin/pose-reloc
OUT=out/another_day
mkdir -p $OUT

drive() {  # drive NAME SEED SETTINGS...: render once, keep what exists
  local name=$1 seed=$2
  shift 2
  local settings=()
  for setting in "$@"; do settings+=(--set "$setting"); done
  [ -f "$OUT/$name/poses.csv" ] || $PR synth --scene config/scenes/demo.yaml --trajectory kidnap \
    --seconds 60 --seed "$seed" --out "$OUT/$name" "${settings[@]}"
}
drive april_morning 41 sun.drive_start_utc=2026-04-14T13:30:00
drive may_overcast 42 sun.drive_start_utc=2026-05-20T16:00:00 lighting.overcast_drives=true
drive june_centre_lane 43 sun.drive_start_utc=2026-06-02T12:30:00 trajectory.lane_offset_m=0.0
drive july_camera_turned 44 sun.drive_start_utc=2026-07-01T22:30:00 "camera.mount_rpy_deg=[0, 0, 15]"
drive september_camera_high 45 sun.drive_start_utc=2026-09-05T19:30:00 "camera.mount_xyz=[0.15, 0, 1.5]"
drive october_camera_low 46 sun.drive_start_utc=2026-10-12T15:00:00 "camera.mount_xyz=[0.15, 0, 1.1]"
drive march_vehicles_moved 47 sun.drive_start_utc=2026-03-18T17:00:00 city.vehicles_seed=1
