"""The one parameter policy of the three nodes (pose_reloc.ros.parameters): a parameter is applied at
run time (validated by the check it had at start) or read at start-up (read_only, a change refused
with a reason naming it); none is accepted and ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROS_MISSING

pytestmark = pytest.mark.skipif(bool(ROS_MISSING), reason=ROS_MISSING or "")

if not ROS_MISSING:
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    from pose_reloc.errors import PoseRelocError
    from pose_reloc.ros.parameters import POSITIVE, PolicyNode

    class Toy(PolicyNode):
        def __init__(self, **kwargs):
            super().__init__("toy", **kwargs)
            self.topic = self.declare("topic", "in", "the input topic")
            self.declare("rate_hz", 1.0, "a rate", runtime=True, check=POSITIVE)
            self.declare("label", "a", "a label", runtime=True)
            self.applied: list[dict] = []
            self.start_applying(self.applied.append)


CONFIG = Path(__file__).resolve().parents[1] / "config" / "robot.yaml"
NODES = [
    ("pose_reloc.posenet.node", "PoseNetNode", "posenet_node"),
    ("sun_bcnn.node", "SunBcnnNode", "sun_bcnn_node"),
    ("vo_fusion.node", "VoFusionNode", "vo_fusion_node"),
]


def test_start_up_parameters_are_read_only_and_their_changes_refused_naming_them(ros):
    toy = ros.add(Toy(context=ros.context))
    assert toy.describe_parameter("topic").read_only
    assert "read at start-up" in toy.describe_parameter("topic").description
    assert not toy.describe_parameter("rate_hz").read_only
    result = toy.set_parameters([Parameter("topic", value="other")])[0]
    assert not result.successful
    assert (
        result.reason == "parameter topic is read at start-up only: restart the node to change it"
    )
    together = toy.set_parameters_atomically(
        [Parameter("rate_hz", value=3.0), Parameter("topic", value="other")]
    )
    assert not together.successful and "topic" in together.reason
    assert toy.get_parameter("topic").value == "in" and toy.get_parameter("rate_hz").value == 1.0
    assert toy.applied == [{"rate_hz": 1.0, "label": "a"}], "nothing was applied"


def test_run_time_parameters_are_applied_with_the_others_values(ros):
    toy = ros.add(Toy(context=ros.context))
    assert toy.set_parameters([Parameter("rate_hz", value=5.0)])[0].successful
    assert toy.applied[-1] == {"rate_hz": 5.0, "label": "a"}
    assert toy.set_parameters([Parameter("label", value="b")])[0].successful
    assert toy.applied[-1] == {"rate_hz": 5.0, "label": "b"}
    assert toy.get_parameter("rate_hz").value == 5.0


def test_a_bad_value_is_refused_with_the_checks_message_at_start_and_at_run_time(ros):
    with pytest.raises(PoseRelocError, match=r"parameter rate_hz = 0\.0 must be positive"):
        Toy(context=ros.context, parameter_overrides=[Parameter("rate_hz", value=0.0)])
    toy = ros.add(Toy(context=ros.context))
    result = toy.set_parameters([Parameter("rate_hz", value=-2.0)])[0]
    assert not result.successful and result.reason == "parameter rate_hz = -2.0 must be positive"
    assert toy.get_parameter("rate_hz").value == 1.0 and len(toy.applied) == 1


def test_the_parameter_service_gives_the_same_reason(ros):
    """`ros2 param set` goes through the node's set_parameters service."""
    ros.add(Toy(context=ros.context))
    client = ros.node("param_cli").create_client(SetParameters, "/toy/set_parameters")
    assert client.wait_for_service(timeout_sec=5.0)
    request = SetParameters.Request(
        parameters=[
            Parameter("topic", value="other").to_parameter_msg(),
            Parameter("rate_hz", value=4.0).to_parameter_msg(),
        ]
    )
    future = client.call_async(request)
    assert ros.spin_until(future.done)
    topic, rate = future.result().results
    assert not topic.successful and "topic is read at start-up" in topic.reason
    assert rate.successful


@pytest.mark.parametrize(("module", "class_name", "name"), NODES)
def test_every_parameter_of_the_nodes_is_either_applied_or_refused(ros, module, class_name, name):
    import importlib

    node_type = getattr(importlib.import_module(module), class_name)
    node = ros.add(
        node_type(context=ros.context, cli_args=["--ros-args", "--params-file", str(CONFIG)])
    )
    configured = yaml.safe_load(CONFIG.read_text())[f"/**/{name}"]["ros__parameters"]
    for key in configured:
        descriptor = node.describe_parameter(key)
        assert descriptor.description, key
        result = node.set_parameters([node.get_parameter(key)])[0]  # its own value again
        if descriptor.read_only:
            assert not result.successful and f"parameter {key} is read at start-up" in result.reason
        else:
            assert result.successful, (key, result.reason)


def test_posenet_and_sun_declare_the_model_parameters_alike(ros):
    from pose_reloc.posenet.node import PoseNetNode
    from sun_bcnn.node import SunBcnnNode

    args = ["--ros-args", "--params-file", str(CONFIG)]
    posenet = ros.add(PoseNetNode(context=ros.context, cli_args=args))
    sun = ros.add(SunBcnnNode(context=ros.context, cli_args=args))
    for key in ("model", "providers", "threads", "mc_samples"):
        a, b = posenet.describe_parameter(key), sun.describe_parameter(key)
        assert a.read_only and b.read_only and a.type == b.type, key
        if key != "model":  # the model's names the shipped file
            assert a.description == b.description, key
