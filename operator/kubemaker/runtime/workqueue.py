"""Keys of objects due for a reconciliation pass, with the guarantees of controller-runtime's work
queue: a key waits in the queue at most once however often it is added, a key is never handed to
two workers at once, and a key added while a worker has it is handed out again when that worker is
done. A delayed add is one timer per key: the earliest wins, and an immediate add cancels it."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)


class WorkQueue(Generic[Key]):
    def __init__(self) -> None:
        self._ready: asyncio.Queue[Key] = asyncio.Queue()
        self._queued: set[Key] = set()
        self._processing: set[Key] = set()
        self._dirty: set[Key] = set()  # added while processing
        self._timers: dict[Key, asyncio.TimerHandle] = {}

    def __len__(self) -> int:
        """Keys waiting for a worker (not those delayed or being processed)."""
        return len(self._queued)

    def add(self, key: Key) -> None:
        self._cancel_timer(key)
        if key in self._processing:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._ready.put_nowait(key)

    def add_after(self, key: Key, delay: float) -> None:
        if key in self._queued or key in self._dirty:
            return  # due sooner already
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        timer = self._timers.get(key)
        if timer is not None:
            if timer.when() <= when:
                return
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: Key) -> None:
        del self._timers[key]
        self.add(key)

    def _cancel_timer(self, key: Key) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    async def get(self) -> Key:
        """The next key due; the caller must call done(key) when it has finished with it."""
        key = await self._ready.get()
        self._queued.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: Key) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def forget(self, key: Key) -> None:
        """Drops the key's timer and pending re-add. A copy already waiting in the queue is still
        handed out: the worker finds nothing to do for it."""
        self._cancel_timer(key)
        self._dirty.discard(key)

    def processing(self, key: Key) -> bool:
        return key in self._processing

    def in_flight(self) -> int:
        """Keys handed to workers and not done yet."""
        return len(self._processing)
