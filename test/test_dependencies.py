"""A robot installed from the README (`rosdep install --from-paths src --ignore-src -y`, the one
`pip install` line, colcon build) has every module the nodes import, and package.xml declares nothing
that nothing uses.

The module graph is walked from each executable CMakeLists.txt installs (scripts/*_node) through our
own modules, reading every `import` statement with ast, function-level ones included (pvlib is
imported only when the fusion node computes its first sun position): a module imported late is still
needed on the robot. A subprocess then imports the nodes the way the scripts do, with the tools'
own dependencies (onnx, torch, ...) made unimportable, to check that the walk misses nothing."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
OWN = {"pose_reloc", "sun_bcnn", "vo_fusion"}
GENERATED = {"pose_reloc.msg"}  # rosidl_generate_interfaces makes it from msg/*.msg at build time

# Top-level module -> the rosdep key that installs it, where the two differ (rosdistro's
# rosdep/python.yaml; a ROS 2 package's Python module is named like the package, so
# `sensor_msgs` needs no entry).
MODULE_KEYS = {
    "numpy": "python3-numpy",
    "scipy": "python3-scipy",
    "cv2": "python3-opencv",
    "yaml": "python3-yaml",
    "pandas": "python3-pandas",
    "onnxruntime": "python3-onnxruntime-pip",
    "rosbags": "python3-rosbags-pip",
    # The Python tf2_ros (Buffer, TransformListener) is the tf2_ros_py package; tf2_ros is C++.
    "tf2_ros": "tf2_ros_py",
}
# Modules no rosdep key installs -> their pip distribution, installed by the README's pip line.
PIP_ONLY = {"pvlib": "pvlib", "mcap": "mcap"}
# Imports that only the tools reach, in a module the nodes also import: (module, function) -> the
# top-level modules imported there. Writing models is `pose-reloc export` / `record-accuracy`.
TOOL_ONLY = {("pose_reloc.onnx_session", "write_metadata"): {"onnx"}}
# What the tools need and the nodes must not (pyproject's dependencies and extras without a rosdep
# key in package.xml): the subprocess import below fails if the nodes import one of them.
TOOLS_ONLY_MODULES = ("onnx", "torch", "matplotlib", "moderngl")
# `ros2 <verb>` in a launch file's ExecuteProcess -> the package that provides the verb.
ROS2_VERBS = {"bag": "ros2bag", "run": "ros2run", "launch": "ros2launch", "topic": "ros2topic"}
# A bag's storage_identifier -> the rosbag2 plugin that reads it (Humble installs sqlite3 only).
BAG_STORAGE = {"mcap": "rosbag2_storage_mcap"}


def _scripts() -> list[Path]:
    """The executables CMakeLists.txt installs in lib/pose_reloc (its `scripts/...` patterns)."""
    patterns = re.findall(r"scripts/([^\s)\"]+)", (ROOT / "CMakeLists.txt").read_text())
    found = sorted({p for pattern in patterns for p in (ROOT / "scripts").glob(pattern)})
    assert found, "CMakeLists.txt installs nothing from scripts/"
    return found


def _module_file(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, str | None]]:
    """(absolute module name, enclosing function or None) for every import in `tree`: `from a import
    b` yields a.b as well as a (b may be a submodule); importlib.import_module("x") counts."""
    found: list[tuple[str, str | None]] = []
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST, function: str | None) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = function or node.name
        if isinstance(node, ast.Import):
            found.extend((alias.name, function) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            found.append((base, function))
            found.extend((f"{base}.{alias.name}", function) for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.args[0].value, function))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, None)
    return found


def node_graph() -> tuple[set[str], dict[str, set[str]]]:
    """Our modules the installed executables import (transitively, function-level imports
    included) and, for each third-party top-level module they import, the modules importing it."""
    own: set[str] = set()
    third_party: dict[str, set[str]] = {}
    todo: list[tuple[str, ast.AST, bool]] = [
        (f"scripts/{p.name}", ast.parse(p.read_text()), False) for p in _scripts()
    ]
    while todo:
        module, tree, is_package = todo.pop()
        for name, function in _imports(tree, module, is_package):
            top = name.partition(".")[0]
            if top in OWN:
                # Importing a.b.c runs a/__init__ and a/b/__init__ too.
                parts = name.split(".")
                for i in range(1, len(parts) + 1):
                    sub = ".".join(parts[:i])
                    path = _module_file(sub)
                    if sub in own or path is None:
                        continue
                    own.add(sub)
                    todo.append((sub, ast.parse(path.read_text()), path.name == "__init__.py"))
            elif top and top not in sys.stdlib_module_names and top != "__future__":
                if top in TOOL_ONLY.get((module, function or ""), set()):
                    continue
                third_party.setdefault(top, set()).add(module)
    return own, third_party


def _manifest() -> dict[str, set[str]]:
    root = ET.parse(ROOT / "package.xml").getroot()
    tags: dict[str, set[str]] = {}
    for element in root:
        if isinstance(element.tag, str) and element.text:
            tags.setdefault(element.tag, set()).add(element.text.strip())
    return tags


def _runtime_keys() -> set[str]:
    tags = _manifest()
    return tags.get("depend", set()) | tags.get("exec_depend", set())


def readme_pip_packages() -> set[str]:
    """The distributions the README's "On a robot" section pip-installs."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## On a robot", 1)[1].split("\n## ", 1)[0]
    packages: set[str] = set()
    for line in section.splitlines():
        words = line.split("#", 1)[0].split()
        if words[:2] == ["pip", "install"]:
            for word in words[2:]:
                if not word.startswith("-"):
                    packages.add(re.split(r"[<>=!~\[;]", word.strip("'\""), maxsplit=1)[0].lower())
    return packages


def _bag_storage_keys() -> dict[str, str]:
    """The storage plugins the shipped bags need -> a bag that needs it."""
    keys: dict[str, str] = {}
    for meta in sorted((ROOT / "data").rglob("metadata.yaml")):
        storage = yaml.safe_load(meta.read_text())["rosbag2_bagfile_information"][
            "storage_identifier"
        ]
        assert storage in BAG_STORAGE, f"{meta}: storage {storage!r} has no plugin in BAG_STORAGE"
        keys.setdefault(BAG_STORAGE[storage], meta.parent.name)
    return keys


def launch_keys() -> dict[str, str]:
    """The packages the launch files need at run time -> why: what they import, `package=` of their
    nodes, the ros2 verbs they run, and the storage plugin of the bags they play."""
    keys: dict[str, str] = {}
    for path in sorted((ROOT / "launch").glob("*.launch.py")):
        tree = ast.parse(path.read_text())
        for name, _ in _imports(tree, path.stem, False):
            top = name.partition(".")[0]
            if top and top not in sys.stdlib_module_names and top != "__future__":
                keys.setdefault(top, f"imported by {path.name}")
        calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
        for keyword in (keyword for call in calls for keyword in call.keywords):
            if keyword.arg == "package" and isinstance(keyword.value, ast.Constant):
                keys.setdefault(str(keyword.value.value), f"a node in {path.name}")
            if keyword.arg == "cmd" and isinstance(keyword.value, ast.List):
                _add_ros2_verb_keys(keys, keyword.value, path.name)
    keys.pop("pose_reloc", None)
    return keys


def _add_ros2_verb_keys(keys: dict[str, str], cmd: ast.List, launch_file: str) -> None:
    """The package a `ros2 VERB ...` command needs (and, for `ros2 bag`, the bags' storage plugins)."""
    words = [
        e.value for e in ast.walk(cmd) if isinstance(e, ast.Constant) and isinstance(e.value, str)
    ]
    if words[:1] != ["ros2"] or len(words) < 2:
        return
    verb = words[1]
    assert verb in ROS2_VERBS, f"{launch_file} runs ros2 {verb}"
    keys.setdefault(ROS2_VERBS[verb], f"`ros2 {verb}` in {launch_file}")
    if verb == "bag":
        for key, bag in _bag_storage_keys().items():
            keys.setdefault(key, f"`ros2 bag` on the {bag} bag")


def message_keys() -> set[str]:
    """The packages our generated messages need: their field types' packages, the runtime."""
    needed = {"rosidl_default_runtime"}
    for msg in (ROOT / "msg").glob("*.msg"):
        for line in msg.read_text().splitlines():
            field = line.split("#", 1)[0].split()
            if field and "/" in field[0]:
                needed.add(field[0].split("/")[0])
    return needed


def test_every_module_the_nodes_import_is_installed_by_rosdep_or_the_readme_pip_line():
    own, third_party = node_graph()
    assert {"pose_reloc.posenet.node", "sun_bcnn.node", "vo_fusion.node", "pose_reloc.sun"} <= own
    assert {"rclpy", "numpy", "onnxruntime", "pvlib"} <= set(third_party)
    declared, pip = _runtime_keys(), readme_pip_packages()
    missing = []
    for module, importers in sorted(third_party.items()):
        if module in PIP_ONLY:
            ok, fix = PIP_ONLY[module] in pip, f"`pip install {PIP_ONLY[module]}` in the README"
        else:
            key = MODULE_KEYS.get(module, module)
            ok, fix = key in declared, f"<exec_depend>{key}</exec_depend> in package.xml"
        if not ok:
            missing.append(f"{module} (imported by {', '.join(sorted(importers))}): needs {fix}")
    assert not missing, (
        "the installed executables import undeclared modules (where a module's rosdep key is named\n"
        "otherwise, map it in MODULE_KEYS; where no key exists, in PIP_ONLY):\n"
        + "\n".join(missing)
    )
    needed = {PIP_ONLY[m] for m in third_party if m in PIP_ONLY}
    assert pip <= needed, f"the README pip-installs what nothing imports: {sorted(pip - needed)}"
    assert not set(PIP_ONLY) & set(MODULE_KEYS)


def test_package_xml_declares_nothing_that_nothing_uses():
    _, third_party = node_graph()
    used = {MODULE_KEYS.get(m, m) for m in third_party} | set(launch_keys()) | message_keys()
    unused = _runtime_keys() - used
    assert not unused, f"package.xml declares dependencies nothing uses: {sorted(unused)}"


def test_package_xml_declares_what_the_launch_files_run():
    missing = {k: why for k, why in launch_keys().items() if k not in _runtime_keys()}
    assert not missing, f"package.xml lacks: {missing}"
    assert {"rviz2", "ros2bag", "rosbag2_storage_mcap", "tf2_ros", "launch_ros"} <= set(
        launch_keys()
    )


def test_walk_finds_a_new_import_and_tool_only_imports_stay_in_their_function():
    tree = ast.parse("import foo_bar.baz\ndef f():\n    from . import camera\n    import onnx\n")
    found = _imports(tree, "pose_reloc.x", False)
    assert found == [("foo_bar.baz", None), ("pose_reloc", "f"), ("pose_reloc.camera", "f"),
                     ("onnx", "f")]  # fmt: skip
    # onnx anywhere in the node graph but write_metadata would need declaring.
    _, third_party = node_graph()
    assert "onnx" not in third_party


def test_the_nodes_import_without_the_tools_dependencies_and_load_only_walked_modules():
    pytest.importorskip("rclpy", reason="needs ROS 2 (rclpy)")
    modules = sorted(
        m
        for p in _scripts()
        for m, _ in _imports(ast.parse(p.read_text()), "scripts", False)
        if m.partition(".")[0] in OWN and _module_file(m) is not None
    )
    code = (
        "import importlib, json, sys\n"
        f"for m in {TOOLS_ONLY_MODULES!r}: sys.modules[m] = None  # import raises ImportError\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"own = {sorted(OWN)!r}\n"
        "print(json.dumps(sorted(n for n in sys.modules if n.partition('.')[0] in own)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    walked, _ = node_graph()
    unwalked = {m for m in loaded - walked - GENERATED if not m.startswith(tuple(GENERATED))}
    assert not unwalked, f"imported but not found by the ast walk: {sorted(unwalked)}"
