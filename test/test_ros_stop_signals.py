"""How a node run by run_node (every pose_reloc node's entry point) stops: SIGINT or SIGTERM lets the
callback in progress finish, then the node is destroyed and the process exits 0; a second signal
still ends a node whose callback hangs. Each case runs a small node in its own process, spun by
rclpy's EventsExecutor (where this rclpy has it: the nodes' default) and by SingleThreadedExecutor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROS_MISSING

pytestmark = pytest.mark.skipif(bool(ROS_MISSING), reason=ROS_MISSING or "")


def _executors() -> list[str]:
    if ROS_MISSING:
        return ["single"]
    from pose_reloc.ros.executors import events_executor_available

    return ["events", "single"] if events_executor_available() else ["single"]


@pytest.fixture(params=_executors())
def executor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


NODE = """
import sys, time
from rclpy.node import Node
from pose_reloc.ros.node_tools import run_node

class Worker(Node):
    def __init__(self):
        super().__init__("worker")
        self.calls = 0
        self.create_timer(0.02, self.tick)

    def tick(self):
        self.calls += 1
        if self.calls == 1:
            print("ready", flush=True)
        if self.calls == 2:
            print("callback started", flush=True)
            deadline = time.monotonic() + SECONDS
            while time.monotonic() < deadline:
                time.sleep(0.01)
            print("callback finished", flush=True)

    def destroy_node(self):
        print("destroyed", flush=True)
        super().destroy_node()

sys.exit(run_node(Worker, "worker"))
"""


def start(callback_seconds: float, executor: str) -> subprocess.Popen[str]:
    program = NODE.replace("SECONDS", repr(callback_seconds))
    return subprocess.Popen(
        [sys.executable, "-u", "-c", program],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "POSE_RELOC_EXECUTOR": executor},
    )


def wait_for_line(process: subprocess.Popen[str], wanted: str) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip() == wanted:
            return
    raise AssertionError(f"the node ended before printing {wanted!r}: {process.stderr.read()}")


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"the node did not stop: {out} {err}") from None
    return process.returncode, out, err


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_a_callback_lets_it_finish_then_the_node_exits_cleanly(
    stop_signal, executor
):
    process = start(callback_seconds=1.0, executor=executor)
    wait_for_line(process, "callback started")
    process.send_signal(stop_signal)
    code, out, err = finish(process)
    assert code == 0, err
    # Not cut off by a KeyboardInterrupt, then torn down once.
    assert out.split() == ["callback", "finished", "destroyed"], (out, err)
    assert "Traceback" not in err


def test_an_idle_node_stops_on_sigterm(executor):
    process = start(callback_seconds=0.0, executor=executor)
    wait_for_line(process, "callback finished")
    process.send_signal(signal.SIGTERM)
    code, out, err = finish(process)
    assert code == 0, err
    assert out.split() == ["destroyed"], (out, err)


def test_a_second_signal_ends_a_node_whose_callback_hangs(executor):
    process = start(callback_seconds=600.0, executor=executor)
    wait_for_line(process, "callback started")
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)  # the first signal is taken (a flag); the callback goes on
    assert process.poll() is None
    process.send_signal(signal.SIGTERM)
    code, out, _ = finish(process)
    assert code == -signal.SIGTERM
    assert "destroyed" not in out


def test_the_executor_is_chosen_by_what_rclpy_has_and_the_environment(monkeypatch):
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    from pose_reloc.errors import PoseRelocError
    from pose_reloc.ros.executors import events_executor_available, make_executor

    context = Context()
    rclpy.init(context=context)
    try:
        monkeypatch.setenv("POSE_RELOC_EXECUTOR", "single")
        assert isinstance(make_executor(context), SingleThreadedExecutor)
        monkeypatch.setenv("POSE_RELOC_EXECUTOR", "fast")
        with pytest.raises(PoseRelocError, match="POSE_RELOC_EXECUTOR='fast' is not one of"):
            make_executor(context)
        monkeypatch.delenv("POSE_RELOC_EXECUTOR")
        chosen = make_executor(context)
        assert isinstance(chosen, SingleThreadedExecutor) != events_executor_available()
        chosen.shutdown()
    finally:
        rclpy.try_shutdown(context=context)
