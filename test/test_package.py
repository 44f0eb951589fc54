"""The ROS package's manifest and build declare what a robot's rosdep and colcon need."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_package_xml_declares_every_runtime_and_test_dependency():
    catkin_pkg = pytest.importorskip("catkin_pkg.package", reason="catkin_pkg not installed")
    package = catkin_pkg.parse_package(str(ROOT / "package.xml"))
    assert package.name == "pose_reloc" and package.package_format == 3
    run = {
        d.name for d in package.exec_depends + package.build_export_depends + package.build_depends
    }
    needed = {
        "rclpy",
        "sensor_msgs",
        "geometry_msgs",
        "nav_msgs",
        "std_srvs",
        "visualization_msgs",
        "diagnostic_msgs",
        "tf2_ros",
        "tf2_msgs",
        "tf2_ros_py",
        "python3-onnxruntime-pip",
        "launch",
        "launch_ros",
    }
    assert needed <= run, f"missing: {needed - run}"
    assert {"launch_testing", "launch_testing_ros", "python3-pytest", "cv_bridge"} <= {
        d.name for d in package.test_depends
    }
    assert "rosidl_interface_packages" in {g.name for g in package.member_of_groups}


def test_cmake_generates_the_message_and_installs_every_python_package():
    cmake = (ROOT / "CMakeLists.txt").read_text()
    assert re.search(
        r'rosidl_generate_interfaces\(\$\{PROJECT_NAME\}\s+"msg/SunDirection.msg"', cmake
    )
    for package in ("pose_reloc", "sun_bcnn", "vo_fusion"):
        assert (ROOT / "src" / package / "__init__.py").is_file()
    assert "foreach(python_package pose_reloc sun_bcnn vo_fusion)" in cmake
    # rosidl's install must come first, or the generated pose_reloc.msg would be overwritten.
    assert cmake.index("rosidl_generate_interfaces") < cmake.index("install(DIRECTORY src/")


def test_readme_opens_with_the_demo_and_the_test_command_that_ci_runs():
    readme = (ROOT / "README.md").read_text().splitlines()
    commands = [line.strip() for line in readme[:15] if line.strip().startswith("make ")]
    assert commands == ["make demo", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo: setup\n\t.*pose-reloc demo", makefile, re.MULTILINE)


def test_pose_reloc_command_reports_a_missing_model_cleanly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pose_reloc.tools.cli", "model-info", str(tmp_path / "none.onnx")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: model file") and "Traceback" not in result.stderr


def _dict_keys(path: Path, name: str) -> set[str]:
    """The string keys of the module-level dict `name` in a Python file (read, not imported)."""
    import ast

    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            assert isinstance(node.value, ast.Dict)
            return {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
    raise AssertionError(f"{path} has no {name}")


def test_launch_files_agree_on_their_arguments():
    """replay.launch.py passes robot.launch.py only arguments it declares (ROS 2 launch would
    ignore a misspelt one silently); both files compile."""
    robot, replay = ROOT / "launch" / "robot.launch.py", ROOT / "launch" / "replay.launch.py"
    for path in (robot, replay):
        compile(path.read_text(), str(path), "exec")
    declared = _dict_keys(robot, "ARGUMENTS")
    assert {"image", "camera_info", "config", "use_sim_time", "rviz", "providers"} <= declared
    assert _dict_keys(replay, "PASSED_ON") | {"use_sim_time"} <= declared


def test_rviz_shows_the_topics_the_nodes_publish():
    from pose_reloc.tools.replay.topics import OUTPUT_TOPICS, PATH_TOPIC

    config = yaml.safe_load((ROOT / "rviz" / "pose_reloc.rviz").read_text())
    manager = config["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "map"
    shown = {d["Topic"]["Value"] for d in manager["Displays"] if "Topic" in d}
    published = set(OUTPUT_TOPICS) | {PATH_TOPIC[0]}
    inputs = {"/ground_truth/pose", "/camera/image_raw"}
    assert {"/reloc/pose", "/reloc/posenet_pose", "/reloc/path", "/sun/marker"} <= shown
    assert shown <= published | inputs


def test_launch_camera_mount_defaults_are_the_demo_robots():
    """robot.launch.py's static camera mount (x y z roll pitch yaw, as tf2's publisher reads them)
    is the mount the demo bag records in /tf_static."""
    import ast

    import numpy as np
    from rosbags.highlevel import AnyReader
    from scipy.spatial.transform import Rotation

    tree = ast.parse((ROOT / "launch" / "robot.launch.py").read_text())
    assign = next(
        n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "ARGUMENTS"
    )
    defaults = {
        k.value: float(v.elts[0].value)
        for k, v in zip(assign.value.keys, assign.value.values, strict=True)
        if k.value.startswith("camera_") and k.value != "camera_info" and k.value != "camera_frame"
    }
    rotation = Rotation.from_euler(
        "ZYX", [defaults["camera_yaw"], defaults["camera_pitch"], defaults["camera_roll"]]
    )
    with AnyReader([ROOT / "data" / "demo" / "kidnap_drive"]) as reader:
        static = [c for c in reader.connections if c.topic == "/tf_static"]
        _, _, raw = next(reader.messages(connections=static))
        mount = reader.deserialize(raw, static[0].msgtype).transforms[0]
    t, q = mount.transform.translation, mount.transform.rotation
    np.testing.assert_allclose(
        [defaults["camera_x"], defaults["camera_y"], defaults["camera_z"]], [t.x, t.y, t.z]
    )
    assert (rotation.inv() * Rotation.from_quat([q.x, q.y, q.z, q.w])).magnitude() < 1e-6
