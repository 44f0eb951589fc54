"""`ros2 run pose_reloc bag_player BAG [--clock] [--rate R]`: plays a rosbag2 (MCAP or sqlite3)
onto live topics at recorded speed, for machines without rosbag2 (`replay.launch.py` uses it
where `ros2 bag` is missing). Like `ros2 bag play`: every topic on its own name and type,
reliable QoS (transient local for /tf_static), /clock from the recorded times with --clock.
Messages go out as the recorded CDR bytes, never deserialized. Unlike the lockstep replay
(`pose-reloc replay`), nothing waits for the nodes: a slow graph drops frames as on a robot.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import rclpy
from rclpy.node import Node
from rosgraph_msgs.msg import Clock

from pose_reloc.errors import PoseRelocError
from pose_reloc.ros.node_tools import LATCHED_QOS, RELIABLE_QOS
from pose_reloc.ros.stop_signals import init_without_rclpy_signals
from pose_reloc.tools.replay.bag_stream import BagStream, message_class

WAIT_POLL_S = 0.05


class BagPlayer:
    """Publishes a bag's messages through `node` at `rate` times the recorded speed; waiting and
    playing end early once `stopped()` (a stop signal came)."""

    def __init__(
        self,
        node: Node,
        stream: BagStream,
        rate: float = 1.0,
        clock: bool = False,
        topics: Sequence[str] | None = None,
        stopped: Callable[[], bool] = lambda: False,
    ):
        self.stopped = stopped
        if not rate > 0:
            raise PoseRelocError(f"playback rate must be positive, got {rate}")
        unknown = sorted(set(topics or ()) - set(stream.topics))
        if unknown:
            raise PoseRelocError(
                f"bag {stream.path} has no topic {', '.join(unknown)}; "
                f"its topics: {', '.join(sorted(stream.topics))}"
            )
        self.node, self.stream, self.rate = node, stream, rate
        self.clock = node.create_publisher(Clock, "/clock", 10) if clock else None
        self.topics = [t for t in (topics or stream.topics) if t != "/clock"]
        self.publishers: dict[str, Any] = {
            topic: node.create_publisher(
                message_class(stream.topics[topic]),
                topic,
                LATCHED_QOS if topic == "/tf_static" else RELIABLE_QOS,
            )
            for topic in self.topics
        }
        self.published = 0

    def wait_for_subscribers(self, topic: str, count: int, timeout_s: float) -> bool:
        """Until `count` readers have matched `topic` (the nodes started), at most timeout_s."""
        if topic not in self.publishers:
            raise PoseRelocError(
                f"bag {self.stream.path} has no topic {topic} to wait on; "
                f"its topics: {', '.join(sorted(self.topics))}"
            )
        deadline = time.monotonic() + timeout_s
        while self.publishers[topic].get_subscription_count() < count:
            if time.monotonic() > deadline or self.stopped():
                return False
            time.sleep(WAIT_POLL_S)
        return True

    def play(self) -> int:
        """Every message at its recorded time offset (scaled by rate); returns how many went out.
        Stops early, without an error, on a stop signal (SIGINT or SIGTERM from `ros2 launch`)
        or once the node's context is shut down: a publish can then fail in the instant between
        the check and the call, and that failure is the stop, not a crash."""
        try:
            return self._play()
        except Exception:
            if rclpy.ok(context=self.node.context):
                raise
            return self.published

    def _play(self) -> int:
        start_wall = time.monotonic()
        start_bag: int | None = None
        for message in self.stream.messages(self.topics):
            if self.stopped() or not rclpy.ok(context=self.node.context):
                break
            if start_bag is None:
                start_bag = message.log_time_ns
            due = start_wall + (message.log_time_ns - start_bag) * 1e-9 / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if self.clock is not None:
                clock = Clock()
                clock.clock.sec, clock.clock.nanosec = divmod(message.log_time_ns, 1_000_000_000)
                self.clock.publish(clock)
            self.publishers[message.topic].publish(message.raw)
            self.published += 1
        return self.published


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bag_player", description="play a rosbag2 onto live topics (ros2 bag play stand-in)"
    )
    parser.add_argument("bag", help="rosbag2 folder or .mcap file")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor")
    parser.add_argument("--clock", action="store_true", help="publish /clock from recorded times")
    parser.add_argument("--topics", nargs="+", help="play only these topics (default: all)")
    parser.add_argument(
        "--wait-for",
        nargs=2,
        metavar=("TOPIC", "COUNT"),
        help="before playing, wait until COUNT subscribers have matched TOPIC (the nodes are up)",
    )
    parser.add_argument(
        "--wait-timeout", type=float, default=120.0, help="seconds to wait for --wait-for"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    command_line = ["bag_player", *(sys.argv[1:] if argv is None else argv)]
    args = build_parser().parse_args(rclpy.utilities.remove_ros_args(command_line)[1:])
    stop = init_without_rclpy_signals(command_line)
    node = Node("bag_player")
    try:
        with BagStream(args.bag, image_topic=None, camera_info_topic=None) as stream:
            player = BagPlayer(
                node, stream, args.rate, args.clock, args.topics, lambda: stop.requested
            )
            if args.wait_for:
                topic, count = args.wait_for[0], int(args.wait_for[1])
                waited = player.wait_for_subscribers(topic, count, args.wait_timeout)
                if stop.requested:
                    return 0
                if not waited:
                    print(
                        f"[bag_player] {topic} has fewer than {count} subscribers after "
                        f"{args.wait_timeout:.0f} s: are the nodes running?",
                        file=sys.stderr,
                    )
                    return 1
            node.get_logger().info(f"playing {stream.path} ({stream.duration_s:.1f} s)")
            count = player.play()
            if stream.error:
                node.get_logger().warning(stream.error)
            node.get_logger().info(f"done: {count} messages played from {stream.path}")
    except PoseRelocError as error:
        print(f"[bag_player] cannot play: {error}", file=sys.stderr)
        return 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        stop.restore()
    return 0
