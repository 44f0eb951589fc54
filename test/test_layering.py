"""The design's layering rule: core modules import without rclpy or any message package."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGES = ("pose_reloc", "sun_bcnn", "vo_fusion")
# The node layer: the only modules allowed to touch ROS.
NODE_LAYER = re.compile(r"(^|\.)(node|nodes|ros_[a-z_]*|ros|msg)($|\.)")

BLOCKED_IMPORT_PROBE = r"""
import importlib, importlib.abc, json, sys
BLOCKED = ("rclpy", "rosidl", "rcl_", "tf2_ros", "tf2_msgs", "cv_bridge", "launch", "builtin_interfaces")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top.startswith(BLOCKED) or top.endswith("_msgs") or name.endswith(".msg"):
            raise ImportError(f"blocked by the layering test: {name}")
        return None
sys.meta_path.insert(0, Block())
try:
    import rclpy  # noqa
    sys.exit("the import blocker does not work")
except ImportError:
    pass
imported = []
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
    imported.append(name)
print(json.dumps(imported))
"""


def core_modules() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((SRC / package).rglob("*.py")):
            parts = path.relative_to(SRC).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            if not NODE_LAYER.search(name):
                names.append(name)
    return names


def test_every_core_module_imports_with_ros_blocked():
    modules = core_modules()
    assert {
        "pose_reloc.geometry",
        "pose_reloc.camera",
        "pose_reloc.images",
        "pose_reloc.onnx_session",
    } <= set(modules)
    result = subprocess.run(
        [sys.executable, "-c", BLOCKED_IMPORT_PROBE, json.dumps(modules)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == modules
    print(f"imported {len(modules)} core modules with rclpy and *_msgs blocked: {modules}")


def test_no_core_module_source_imports_ros():
    ros_import = re.compile(
        r"^\s*(import|from)\s+(rclpy|tf2_ros|cv_bridge|[a-z_]+_msgs)\b", re.MULTILINE
    )
    offenders = []
    for name in core_modules():
        path = SRC / Path(*name.split("."))
        source = (path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).read_text()
        if ros_import.search(source):
            offenders.append(name)
    assert offenders == []
