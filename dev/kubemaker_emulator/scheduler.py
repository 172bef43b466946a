"""Timed state changes, applied lazily in time order.

Every resource in a transient state schedules its next change at an exact time. Before any request
is answered, all changes due by now run in time order, each at its own due time, so a training job
that finished 2.3 s ago reports transitions stamped with the times they were due, and a tuning job
launches its next child at the moment the previous one finished. No background thread is needed:
the state is only ever observed through a request.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Callable

Action = Callable[[float], None]


class Scheduler:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Action]] = []
        self._sequence = itertools.count()

    def at(self, due: float, action: Action) -> None:
        heapq.heappush(self._heap, (due, next(self._sequence), action))

    def run_due(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            due, _, action = heapq.heappop(self._heap)
            action(due)

    def clear(self) -> None:
        self._heap.clear()

    def shift(self, seconds: float) -> None:
        """Moves every pending change by `seconds`, as when the clock is stepped: each still happens
        after the same wait. A constant shift keeps the heap's order."""
        self._heap[:] = [(due + seconds, sequence, action) for due, sequence, action in self._heap]


class Timer:
    """At most one pending change for its owner: arming it again cancels the previous one."""

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler
        self._generation = 0

    def arm(self, due: float, action: Action) -> None:
        self._generation += 1
        generation = self._generation

        def fire(t: float) -> None:
            if generation == self._generation:
                action(t)

        self._scheduler.at(due, fire)

    def cancel(self) -> None:
        self._generation += 1
