"""One parameter policy for the three nodes: each parameter is either applied at run time or read
at start-up, and nothing in between.

- applied: declared with `runtime=True`; a change is validated by the same check as at start and,
  once accepted, handed (with every other run-time value) to the node's apply function;
- read at start-up: the descriptor is `read_only` (`ros2 param describe` says so) and a change is
  refused with a reason naming the parameter.

No parameter is accepted and then ignored. The model parameters of posenet_node and sun_bcnn_node
(model, providers, threads, mc_samples) are declared here once for both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

from pose_reloc.errors import PoseRelocError
from pose_reloc.geometry import Transform
from pose_reloc.ros.node_tools import resolve_model_path

Check = Callable[[Any], str | None]  # what a value lacks ("must be positive"), or None when fine
Apply = Callable[[dict[str, Any]], None]


def _start_up_only_reason(name: str) -> str:
    return f"parameter {name} is read at start-up only: restart the node to change it"


class PolicyNode(Node):
    """A Node whose parameters are declared with `declare` and follow the policy above.

    rclpy would refuse a change of a read-only parameter with its own terse reason before any
    callback runs, so the start-up check sits in front of rclpy's in `set_parameters_atomically`
    (the path of `set_parameters` and of the parameter services)."""

    def __init__(self, node_name: str, **kwargs: Any):
        self._runtime_checks: dict[str, Check | None] = {}
        self._start_up_only: set[str] = set()
        self._apply: Apply | None = None
        super().__init__(node_name, **kwargs)
        self.add_on_set_parameters_callback(self._validate_and_apply)

    def declare(
        self,
        name: str,
        default: Any,
        description: str,
        *,
        runtime: bool = False,
        check: Check | None = None,
    ) -> Any:
        """Declare a parameter and return its value; a value `check` finds wanting stops the start
        (PoseRelocError) and, for a run-time parameter, is refused later with the same message."""
        descriptor = ParameterDescriptor(
            description=description if runtime else f"{description} (read at start-up)",
            read_only=not runtime,
        )
        value = self.declare_parameter(name, default, descriptor).value
        problem = _problem(name, value, check)
        if problem is not None:
            raise PoseRelocError(problem)
        if runtime:
            self._runtime_checks[name] = check
        else:
            self._start_up_only.add(name)
        return value

    def start_applying(self, apply: Apply) -> None:
        """Apply the run-time parameters now, and again after every accepted change: `apply` gets
        the value of every run-time parameter (the new ones included)."""
        self._apply = apply
        apply(self._runtime_values())

    def _runtime_values(self, changed: Sequence[Parameter] = ()) -> dict[str, Any]:
        values = {name: self.get_parameter(name).value for name in self._runtime_checks}
        return values | {p.name: p.value for p in changed if p.name in self._runtime_checks}

    def set_parameters_atomically(self, parameter_list: list[Parameter]) -> SetParametersResult:
        for parameter in parameter_list:
            if parameter.name in self._start_up_only:
                return _refused(_start_up_only_reason(parameter.name))
        return super().set_parameters_atomically(parameter_list)

    def set_parameters(self, parameter_list: list[Parameter]) -> list[SetParametersResult]:
        return [self.set_parameters_atomically([parameter]) for parameter in parameter_list]

    def _validate_and_apply(self, parameters: list[Parameter]) -> SetParametersResult:
        changed = [p for p in parameters if p.name in self._runtime_checks]
        for parameter in changed:
            problem = _problem(
                parameter.name, parameter.value, self._runtime_checks[parameter.name]
            )
            if problem is not None:
                return _refused(problem)
        if not changed:
            return SetParametersResult(successful=True)
        if self._apply is None:
            return _refused(f"parameter {changed[0].name} cannot change while the node starts")
        self._apply(self._runtime_values(changed))
        return SetParametersResult(successful=True)


def _problem(name: str, value: Any, check: Check | None) -> str | None:
    lack = check(value) if check is not None else None
    return None if lack is None else f"parameter {name} = {value!r} {lack}"


def _refused(reason: str) -> SetParametersResult:
    return SetParametersResult(successful=False, reason=reason)


def number_in(low: float, high: float, text: str, *, also: Sequence[float] = ()) -> Check:
    """A check for a number in [low, high] (or one of `also`); `text` says what it must be."""

    def check(value: Any) -> str | None:
        if value in also:
            return None
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if number and low <= value <= high else f"must be {text}"

    return check


def one_of(choices: Sequence[str]) -> Check:
    return lambda value: None if value in choices else f"must be one of {tuple(choices)}"


POSITIVE = number_in(1e-12, float("inf"), "positive")


def declare_camera_extrinsic(node: PolicyNode) -> None:
    """camera_extrinsic, applied at run time (read it back with `extrinsic_from_parameter`)."""
    node.declare(
        "camera_extrinsic",
        [0.0],
        "T_base_camera as x y z qx qy qz qw, used when TF has no camera mount",
        runtime=True,
        check=_extrinsic_check,
    )


def extrinsic_from_parameter(values: Sequence[float]) -> Transform | None:
    """camera_extrinsic's transform; None (TF only) for any length but 7, such as [0.0]."""
    return Transform.from_xyz_quat(values[:3], values[3:]) if len(values) == 7 else None


def _extrinsic_check(values: Sequence[float]) -> str | None:
    try:
        extrinsic_from_parameter(values)
    except PoseRelocError as error:
        return f"is not x y z qx qy qz qw: {error}"
    return None


@dataclass(frozen=True)
class ModelParameters:
    path: Path
    providers: list[str]
    threads: int
    mc_samples: int


def declare_model_parameters(node: PolicyNode, shipped_model: str) -> ModelParameters:
    """model, providers, threads and mc_samples, all read at start-up (they load the model)."""
    model = node.declare("model", "", f"ONNX model (empty: the shipped models/{shipped_model})")
    providers = node.declare(
        "providers", ["tensorrt", "cuda", "cpu"], "ONNX Runtime providers, priority order"
    )
    threads = node.declare("threads", 2, "CPU threads for inference")
    mc_samples = node.declare(
        "mc_samples", 0, "MC-dropout samples per image (0: the model's default)"
    )
    return ModelParameters(
        resolve_model_path(model, shipped_model), list(providers), threads, mc_samples
    )
