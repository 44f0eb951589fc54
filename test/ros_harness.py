"""Real rclpy over real DDS for tests: an isolated context per test, nodes spun on an executor, and
waiting (with timeouts) for what they publish.

Isolation: every harness gets its own ROS_DOMAIN_ID, and discovery is kept on this machine
(ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST; ROS_LOCALHOST_ONLY=1 on Humble), set before rclpy starts.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile

_domain_ids = itertools.cycle(range(100 + os.getpid() % 50, 230))


def keep_discovery_local() -> None:
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    if os.environ.get("ROS_DISTRO") == "humble":
        os.environ["ROS_LOCALHOST_ONLY"] = "1"


class RosHarness:
    """One rclpy context on its own domain, with the nodes made in it spun by one executor."""

    def __init__(self) -> None:
        keep_discovery_local()
        self.domain_id = next(_domain_ids)
        self.context = Context()
        rclpy.init(context=self.context, domain_id=self.domain_id)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.nodes: list[Node] = []

    def node(self, name: str, **kwargs: Any) -> Node:
        node = Node(name, context=self.context, **kwargs)
        return self.add(node)

    def add(self, node: Node) -> Node:
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def spin_until(self, done: Callable[[], bool], timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if done():
                return True
            self.executor.spin_once(timeout_sec=0.02)
        return done()

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.02)

    def collect(self, msg_type: type, topic: str, qos: QoSProfile | int = 10) -> list[Any]:
        """Subscribe a listener node to `topic`; the returned list fills as messages arrive."""
        received: list[Any] = []
        listener = self.node(f"listener_{len(self.nodes)}")
        listener.create_subscription(msg_type, topic, received.append, qos)
        return received

    def wait_for_subscribers(self, publisher: Any, count: int = 1, timeout_s: float = 10.0) -> bool:
        return self.spin_until(lambda: publisher.get_subscription_count() >= count, timeout_s)

    def close(self) -> None:
        for node in self.nodes:
            self.executor.remove_node(node)
            node.destroy_node()
        self.executor.shutdown()
        rclpy.try_shutdown(context=self.context)
