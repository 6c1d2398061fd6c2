"""Timing helpers: medians of repeats, and ratios measured pair by pair."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any


def seconds(fn: Callable[[], Any], *, number: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def paired(
    ours: Callable[[], Any],
    baseline: Callable[[], Any],
    *,
    repeats: int = 7,
    number: int = 1,
) -> tuple[float, float, float]:
    """Median seconds of ``ours``, of ``baseline``, and the median of the ratios.

    The two run alternately (A B A B ...), so a drift in machine speed hits both.
    """
    ours(), baseline()  # warm-up
    a, b, ratios = [], [], []
    for _ in range(repeats):
        ta = seconds(ours, number=number)
        tb = seconds(baseline, number=number)
        a.append(ta)
        b.append(tb)
        ratios.append(ta / tb)
    return statistics.median(a), statistics.median(b), statistics.median(ratios)


def process_env(**changes: str) -> dict[str, str]:
    """The environment of a timed process: this one's, with Python's bytecode cache.

    Some sandboxes set ``PYTHONDONTWRITEBYTECODE``, so that every process compiles
    meterkit's modules from source (tens of milliseconds), which a user's machine
    does once; without it, the untimed warm-up run writes the cache.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(changes)
    return env
