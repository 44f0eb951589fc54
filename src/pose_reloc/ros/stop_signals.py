"""SIGINT and SIGTERM as a request to stop, which the main loop checks between callbacks.

rclpy's own handling (the default of `rclpy.init`) shuts the context down from a thread of its own
and also raises KeyboardInterrupt in the main thread wherever it happens to be; the main thread's
teardown (executor shutdown, guard conditions unregistered, node destroyed) then races that thread.
A launch's SIGINT once left sun_bcnn_node hung that way in CI (neither SIGINT nor SIGTERM ended
it; launch killed it). Here the handler only sets a flag: the main thread sees it within one poll,
finishes the callback it is in, and tears down alone. A second signal is not caught (the first one
put the previous handlers back): Ctrl-C twice, or launch's SIGTERM after a callback that hangs,
still ends the process.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

import rclpy
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from pose_reloc.ros.executors import make_executor

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOP_POLL_S = 0.1  # how long a stop signal can wait for the spin loop to see it


class StopSignals:
    """Installed for the life of the object's owner (a console entry point); `requested` once
    SIGINT or SIGTERM came."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""
        self._previous: dict[int, Any] = {s: signal.signal(s, self._request) for s in STOP_SIGNALS}

    def _request(self, signum: int, _frame: FrameType | None) -> None:
        self.requested = True
        self.signal_name = signal.Signals(signum).name
        self.restore()

    def restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


def init_without_rclpy_signals(args: list[str] | None) -> StopSignals:
    """rclpy.init with rclpy's signal handlers left out, and ours in (see the module's text)."""
    stop = StopSignals()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    return stop


def spin_until_stopped(node: Node, stop: StopSignals) -> None:
    """Runs `node`'s callbacks until a stop signal or the context's shutdown."""
    executor = make_executor()
    executor.add_node(node)
    try:
        while rclpy.ok() and not stop.requested:
            executor.spin_once(timeout_sec=STOP_POLL_S)
    finally:
        executor.shutdown()
