"""The layers, enforced: every import in src/ (function-level ones too) points down or sideways.

    pose_reloc.tools                      may import anything
    pose_reloc.posenet  sun_bcnn  vo_fusion   the three runtime packages: the base, and `ros` from
                                          their `node` module only; never each other, never tools
    pose_reloc.ros                        the node layer: the base and ROS 2
    pose_reloc (the rest)                 the base: only itself and third-party libraries

ROS 2 (rclpy, messages, tf2_ros, cv_bridge) only in `pose_reloc.ros`, the `node` modules and the
`ros_*` modules of `tools`.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGES = ("pose_reloc", "sun_bcnn", "vo_fusion")
RUNTIME = ("posenet", "sun_bcnn", "vo_fusion")
MAY_IMPORT = {
    "base": {"base"},
    "ros": {"base", "ros"},
    "posenet": {"base", "ros", "posenet"},
    "sun_bcnn": {"base", "ros", "sun_bcnn"},
    "vo_fusion": {"base", "ros", "vo_fusion"},
    "tools": {"base", "ros", "posenet", "sun_bcnn", "vo_fusion", "tools"},
}
ROS_TOP_LEVEL = re.compile(
    r"^(rclpy|rosidl\w*|rcl_\w+|tf2_ros|tf2_msgs|cv_bridge|\w+_msgs|\w+_srvs)$"
)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] in ("sun_bcnn", "vo_fusion"):
        return parts[0]
    if len(parts) > 1 and parts[1] in ("ros", "msg"):  # pose_reloc.msg: our generated messages
        return "ros"
    if len(parts) > 1 and parts[1] in ("posenet", "tools"):
        return parts[1]
    return "base"


def may_use_ros(module: str) -> bool:
    layer, last = layer_of(module), module.split(".")[-1]
    return (
        layer == "ros"
        or (layer in RUNTIME and last == "node")
        or (layer == "tools" and last.startswith("ros_"))
    )


def imported_modules(source: str, module: str) -> list[str]:
    """Every module an import statement names, anywhere in the source (`from a import b` counts as
    `a.b`: b may be a module)."""
    names = []
    package = module.split(".")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: -node.level] + ([base] if base else []))
            names += [f"{base}.{alias.name}" for alias in node.names]
    return names


def violations(module: str, source: str) -> list[str]:
    found = []
    layer = layer_of(module)
    for name in imported_modules(source, module):
        top = name.split(".")[0]
        if top in PACKAGES:
            target = layer_of(name)
            if target not in MAY_IMPORT[layer]:
                found.append(f"{module} ({layer}) imports {name} ({target})")
            elif target == "ros" and layer != "ros" and not may_use_ros(module):
                found.append(f"{module} imports the node layer ({name}) but is not a node")
        elif ROS_TOP_LEVEL.match(top) and not may_use_ros(module):
            found.append(f"{module} imports ROS ({name}) below the node layer")
    return found


def source_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((SRC / package).rglob("*.py")):
            parts = path.relative_to(SRC).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def test_every_import_in_src_points_down_or_sideways():
    modules = source_modules()
    assert {"pose_reloc.geometry", "pose_reloc.ros.convert", "pose_reloc.posenet.node"} <= set(
        modules
    )
    found = [v for name, path in modules.items() for v in violations(name, path.read_text())]
    assert found == []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("pose_reloc.geometry", "def f():\n    from vo_fusion.fusion import FusionCore\n"),
        ("pose_reloc.datasets.kitti", "import sun_bcnn.inference\n"),
        ("pose_reloc.train.layers", "from pose_reloc.posenet import networks\n"),
        ("pose_reloc.camera", "from pose_reloc.ros import convert\n"),
        ("pose_reloc.images", "from pose_reloc.tools.replay.run import run_replay\n"),
        ("pose_reloc.ros.convert", "from pose_reloc.posenet.localizer import PoseNetLocalizer\n"),
        ("sun_bcnn.inference", "from vo_fusion import fusion\n"),
        ("vo_fusion.refine", "from pose_reloc.tools.cli import main\n"),
        ("vo_fusion.evaluation.fusion", "from pose_reloc.posenet.localizer import PoseEstimate\n"),
        ("pose_reloc.posenet.localizer", "from sun_bcnn.inference import SunEstimate\n"),
        ("pose_reloc.posenet.localizer", "from pose_reloc.ros.node_tools import SENSOR_QOS\n"),
        ("vo_fusion.fusion", "import rclpy\n"),
        ("sun_bcnn.evaluate", "from geometry_msgs.msg import Pose\n"),
        ("pose_reloc.tools.replay.results", "from rclpy.node import Node\n"),
        ("pose_reloc.sun", "from . import msg\n"),
    ],
)
def test_the_check_catches_an_upward_import(module, source):
    assert len(violations(module, source)) == 1


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("pose_reloc.tools.export", "from sun_bcnn.train import build_sun_network\n"),
        ("pose_reloc.tools.replay.ros_graph", "import rclpy\nfrom vo_fusion.node import X\n"),
        ("vo_fusion.node", "import rclpy\nfrom pose_reloc.ros import convert\n"),
        ("pose_reloc.posenet.node", "from pose_reloc.posenet.localizer import PoseNetLocalizer\n"),
        ("pose_reloc.ros.node_tools", "from pose_reloc.geometry import Transform\n"),
        ("sun_bcnn.train", "from pose_reloc.train.layers import Inception\n"),
    ],
)
def test_the_check_lets_downward_imports_pass(module, source):
    assert violations(module, source) == []


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


def test_every_module_below_the_node_layer_imports_with_ros_blocked():
    """What the source check cannot see (an import through a helper module) shows up here."""
    modules = [name for name in source_modules() if not may_use_ros(name)]
    assert {"pose_reloc.geometry", "vo_fusion.fusion", "pose_reloc.tools.cli"} <= set(modules)
    result = subprocess.run(
        [sys.executable, "-c", BLOCKED_IMPORT_PROBE, json.dumps(modules)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == modules
