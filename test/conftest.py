"""Shared fixtures: `ros` gives a RosHarness (real rclpy, isolated domain) and skips with a reason
where rclpy cannot be imported (a plain-pip install of the tools, without ROS 2)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

ROS_MISSING = (
    None
    if importlib.util.find_spec("rclpy") is not None
    else "rclpy is not importable: run `make setup` (ROS 2 wheels) or source a ROS 2 install"
)


@pytest.fixture
def ros() -> Iterator[Any]:
    if ROS_MISSING:
        pytest.skip(ROS_MISSING)
    from ros_harness import RosHarness

    harness = RosHarness()
    try:
        yield harness
    finally:
        harness.close()
