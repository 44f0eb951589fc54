"""The executor our nodes spin in.

rclpy's EventsExecutor (rclpy.experimental, Kilted on) waits and dispatches in C++; the default
SingleThreadedExecutor rebuilds its wait set in Python for every callback. Measured with
`pose-reloc benchmark posenet` (image published -> pose received, one process): the events
executor took ~1.3 ms less per image. Where rclpy has no EventsExecutor (Jazzy, Humble), or
POSE_RELOC_EXECUTOR=single asks for it, nodes spin in SingleThreadedExecutor as before.
"""

from __future__ import annotations

import os

from rclpy.context import Context
from rclpy.executors import Executor, SingleThreadedExecutor

from pose_reloc.errors import PoseRelocError

EXECUTOR_ENV = "POSE_RELOC_EXECUTOR"
EXECUTORS = ("events", "single")


def events_executor_available() -> bool:
    try:
        from rclpy.experimental import EventsExecutor  # noqa: F401
    except ImportError:
        return False
    return True


def make_executor(context: Context | None = None) -> Executor:
    """An EventsExecutor where rclpy has one, unless POSE_RELOC_EXECUTOR=single; else a
    SingleThreadedExecutor."""
    choice = os.environ.get(EXECUTOR_ENV, "events") or "events"
    if choice not in EXECUTORS:
        raise PoseRelocError(f"{EXECUTOR_ENV}={choice!r} is not one of {', '.join(EXECUTORS)}")
    if choice == "events" and events_executor_available():
        from rclpy.experimental import EventsExecutor

        return EventsExecutor(context=context)
    return SingleThreadedExecutor(context=context)
