"""`colcon build` + `colcon test` of this package in a fresh workspace, as on a robot: CMake with
BUILD_TESTING registers every test file as a ctest test (ament_cmake_pytest), and `colcon test`
runs one of them for real. Skipped where colcon or ROS 2 is not installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROS_MISSING

ROOT = Path(__file__).resolve().parents[1]
COLCON = shutil.which("colcon")
pytestmark = pytest.mark.skipif(
    bool(ROS_MISSING) or COLCON is None,
    reason=ROS_MISSING or "colcon is not installed (pip install colcon-common-extensions)",
)


def colcon(workspace: Path, *arguments: str, timeout_s: float) -> str:
    assert COLCON is not None
    prefix = [os.environ.get("CMAKE_PREFIX_PATH", ""), sys.prefix]
    environment = os.environ | {"CMAKE_PREFIX_PATH": os.pathsep.join(filter(None, prefix))}
    result = subprocess.run(
        [COLCON, "--log-base", str(workspace / "log"), *arguments],
        cwd=workspace,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert result.returncode == 0, (
        f"colcon {arguments[0]} failed:\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def test_colcon_build_registers_every_test_file_and_colcon_test_runs_one(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "pose_reloc").symlink_to(ROOT)
    cmake_args = ["-DBUILD_TESTING=ON", f"-DPython3_EXECUTABLE={sys.executable}"]
    colcon(
        tmp_path,
        *("build", "--packages-select", "pose_reloc", "--cmake-args", *cmake_args),
        timeout_s=600,
    )
    build = tmp_path / "build" / "pose_reloc"
    listing = subprocess.run(
        ["ctest", "--test-dir", str(build), "-N"], capture_output=True, text=True, check=True
    ).stdout
    registered = set(re.findall(r"Test\s+#\d+: (\S+)", listing))
    assert registered == {p.stem for p in (ROOT / "test").glob("test_*.py")}

    colcon(
        tmp_path,
        *("test", "--packages-select", "pose_reloc", "--ctest-args", "-R", "^test_camera$"),
        timeout_s=300,
    )
    summary = colcon(
        tmp_path, "test-result", "--test-result-base", str(build), "--all", timeout_s=60
    )
    counts = re.search(r"Summary: (\d+) tests, (\d+) errors, (\d+) failures", summary)
    assert counts, summary
    tests, errors, failures = map(int, counts.groups())
    assert (errors, failures) == (0, 0), summary
    # The camera tests themselves ran (ctest's own entry is one more), not only ctest's wrapper.
    assert tests > 5, summary
