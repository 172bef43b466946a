"""Event posting without a cluster: what is posted, what is retried, what is dropped, and how
similar Events are aggregated (one Event per object, type and reason, with a count)."""

from __future__ import annotations

import asyncio
import time

from kubemaker.metrics import EVENTS_AGGREGATED, EVENTS_DROPPED
from kubemaker.runtime import events
from kubemaker.runtime.events import EventPoster
from kubemaker.runtime.kubeclient import MERGE_PATCH, ApiError


class FakeKube:
    """The API server's events endpoints: answers `failures` (by reason) before accepting."""

    def __init__(self, failures: dict[str, list[int]] | None = None, delay: float = 0.0):
        self.failures = failures or {}
        self.delay = delay
        self.events: dict[str, dict] = {}  # by name
        self.attempts: dict[str, int] = {}
        self.patches: list[tuple[str, dict]] = []

    def request(self, method, path, body=None, *, content_type="application/json", read=True, **_):
        time.sleep(self.delay)
        if method == "PATCH":
            assert content_type == MERGE_PATCH
            name = path.rsplit("/", 1)[1]
            if name not in self.events:
                raise ApiError(404, "Not Found")
            self.patches.append((name, body))
            self.events[name].update(body)
            return None
        assert method == "POST" and path == f"/api/v1/namespaces/{body['metadata']['namespace']}/events"
        reason = body["reason"]
        self.attempts[reason] = self.attempts.get(reason, 0) + 1
        pending = self.failures.get(reason) or []
        if pending:
            raise ApiError(pending.pop(0), "refused")
        name = f"{body['metadata']['generateName']}{len(self.events):05d}"
        self.events[name] = {**body, "metadata": {**body["metadata"], "name": name}}
        return self.events[name]

    def by_reason(self) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        for event in self.events.values():
            found.setdefault(event["reason"], []).append(event)
        return found


def job(name: str) -> dict:
    return {"apiVersion": "sagemaker.kubemaker.io/v1alpha1", "kind": "TrainingJob",
            "metadata": {"namespace": "team-a", "name": name, "uid": f"uid-{name}"}}


def run(poster: EventPoster, scenario) -> None:
    async def main():
        writers = asyncio.create_task(poster.run())
        await scenario()
        writers.cancel()

    asyncio.run(main())


def counted(counter, *labels) -> float:
    return (counter.labels(*labels) if labels else counter)._value.get()


def test_events_are_posted_retried_when_transient_and_dropped_when_refused(monkeypatch):
    monkeypatch.setattr(events, "RETRY_DELAYS_SECONDS", (0.01, 0.01))
    kube = FakeKube({"Throttled": [429, 503], "Refused": [400], "Hopeless": [500, 500, 500]})
    poster = EventPoster(kube, instance="operator-0")

    async def scenario():
        for reason in ("Created", "Throttled", "Refused", "Hopeless"):
            poster.post(job("x" * 253), "Normal", reason, f"{reason} message")
        await asyncio.sleep(0.3)

    dropped = {cause: counted(EVENTS_DROPPED, cause) for cause in ("refused", "unreachable")}
    run(poster, scenario)
    assert counted(EVENTS_DROPPED, "refused") == dropped["refused"] + 1
    assert counted(EVENTS_DROPPED, "unreachable") == dropped["unreachable"] + 1
    posted = {reason: found[0] for reason, found in kube.by_reason().items()}
    assert set(posted) == {"Created", "Throttled"}
    assert kube.attempts == {"Created": 1, "Throttled": 3, "Refused": 1, "Hopeless": 3}
    created = posted["Created"]
    assert created["involvedObject"] == {"apiVersion": "sagemaker.kubemaker.io/v1alpha1", "kind": "TrainingJob",
                                         "namespace": "team-a", "name": "x" * 253, "uid": "uid-" + "x" * 253}
    assert created["metadata"]["generateName"] == "x" * 200 + "."
    assert created["source"] == {"component": "kubemaker"} and created["reportingInstance"] == "operator-0"
    assert created["type"] == "Normal" and created["message"] == "Created message" and created["count"] == 1


def test_a_repeated_reason_counts_on_the_event_already_posted():
    kube = FakeKube()
    poster = EventPoster(kube)
    aggregated = counted(EVENTS_AGGREGATED)

    async def scenario():
        poster.post(job("a"), "Warning", "Retrying", "will retry: throttled")
        await asyncio.sleep(0.05)
        poster.post(job("a"), "Warning", "Retrying", "will retry: 503")
        await asyncio.sleep(0.05)
        poster.post(job("a"), "Warning", "Retrying", "will retry: timeout")
        poster.post(job("b"), "Warning", "Retrying", "will retry: throttled")  # another object: its own
        poster.post(job("a"), "Normal", "Retrying", "a Normal one is another Event")
        await asyncio.sleep(0.1)

    run(poster, scenario)
    retrying = kube.by_reason()["Retrying"]
    by_object = {(e["involvedObject"]["name"], e["type"]): e for e in retrying}
    assert len(retrying) == 3
    assert by_object[("a", "Warning")]["count"] == 3
    assert by_object[("a", "Warning")]["message"] == "will retry: timeout", "the latest message"
    assert by_object[("b", "Warning")]["count"] == 1 and by_object[("a", "Normal")]["count"] == 1
    assert [body["count"] for _, body in kube.patches] == [2, 3]
    assert counted(EVENTS_AGGREGATED) == aggregated + 2


def test_occurrences_waiting_in_a_backlog_join_one_entry_and_nothing_is_lost_uncounted(monkeypatch):
    monkeypatch.setattr(events, "MAX_PENDING_EVENTS", 3)
    kube = FakeKube(delay=0.02)
    poster = EventPoster(kube)
    aggregated, dropped = counted(EVENTS_AGGREGATED), counted(EVENTS_DROPPED, "backlog")

    async def scenario():
        # No writer has run yet: everything waits.
        for _ in range(5):
            poster.post(job("a"), "Normal", "TrainingTraining", "training")
        for name in ("b", "c", "d", "e"):
            poster.post(job(name), "Normal", "Created", "created")
        await asyncio.sleep(0.3)

    run(poster, scenario)
    occurrences = sum(event["count"] for event in kube.events.values())
    assert kube.by_reason()["TrainingTraining"][0]["count"] == 5
    assert len(kube.events) == 3, "one entry for a's five, b and c; d and e found the backlog full"
    assert counted(EVENTS_DROPPED, "backlog") == dropped + 2
    assert counted(EVENTS_AGGREGATED) == aggregated + 4
    assert occurrences + 2 == 9, "every occurrence is on an Event or counted as dropped"


def test_an_event_gone_from_the_api_server_is_posted_anew():
    kube = FakeKube()
    poster = EventPoster(kube)

    async def scenario():
        poster.post(job("a"), "Normal", "Updating", "first")
        await asyncio.sleep(0.05)
        kube.events.clear()  # expired: the API server keeps Events an hour
        poster.post(job("a"), "Normal", "Updating", "second")
        await asyncio.sleep(0.05)

    run(poster, scenario)
    [event] = kube.events.values()
    assert event["message"] == "second" and event["count"] == 1


def test_while_passes_wait_for_a_worker_events_wait_and_gather_then_go(monkeypatch):
    monkeypatch.setattr(events, "BUSY_RECHECK_SECONDS", 0.01)
    kube = FakeKube()
    busy = {"now": True}
    poster = EventPoster(kube, busy=lambda: busy["now"])

    async def scenario():
        for message in ("one", "two", "three"):
            poster.post(job("a"), "Normal", "TrainingStarting", message)
        await asyncio.sleep(0.1)
        assert kube.events == {}, "nothing posted while passes wait"
        busy["now"] = False
        await asyncio.sleep(0.1)

    run(poster, scenario)
    [event] = kube.events.values()
    assert event["count"] == 3 and event["message"] == "three"


def test_a_burst_that_lasts_delays_events_only_so_long(monkeypatch):
    monkeypatch.setattr(events, "BUSY_RECHECK_SECONDS", 0.01)
    monkeypatch.setattr(events, "MAX_DEFER_SECONDS", 0.05)
    kube = FakeKube()
    poster = EventPoster(kube, busy=lambda: True)

    async def scenario():
        poster.post(job("a"), "Normal", "Created", "created")
        await asyncio.sleep(0.2)

    run(poster, scenario)
    assert [event["reason"] for event in kube.events.values()] == ["Created"]
