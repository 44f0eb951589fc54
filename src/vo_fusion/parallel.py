"""Independent pieces of offline work (pairs to match, frames to register) spread over the
machine's cores on threads: OpenCV and NumPy release the GIL in their heavy calls (matching,
RANSAC, detection), so threads share the work without copying the images or the map to
other processes. Results come back in the order of the inputs, as a loop would give them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def available_cores() -> int:
    """The cores this process may run on (a container's or taskset's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def thread_map(
    function: Callable[[Item], Result], items: Iterable[Item], workers: int | None = None
) -> list[Result]:
    """[function(item) for item in items], on `workers` threads (default: the available cores)."""
    workers = available_cores() if workers is None else workers
    if workers <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, items))
