"""Event posting without a cluster: what is posted, what is retried, what is dropped."""

from __future__ import annotations

import asyncio

import kubernetes

from kubemaker.runtime import events
from kubemaker.runtime.events import EventPoster
from kubemaker.metrics import EVENTS_DROPPED


class FakeResponse:
    def drain_conn(self):
        pass

    def release_conn(self):
        pass


class FakeCore:
    def __init__(self, failures: dict[str, list[int]]):
        self.failures = failures  # reason -> statuses to answer before accepting
        self.created: list[tuple[str, dict]] = []
        self.attempts: dict[str, int] = {}

    def create_namespaced_event(self, namespace, body, _preload_content=True):
        reason = body["reason"]
        self.attempts[reason] = self.attempts.get(reason, 0) + 1
        pending = self.failures.get(reason) or []
        if pending:
            raise kubernetes.client.ApiException(status=pending.pop(0), reason="refused")
        self.created.append((namespace, body))
        return FakeResponse()


def job(name: str) -> dict:
    return {"apiVersion": "sagemaker.kubemaker.io/v1alpha1", "kind": "TrainingJob",
            "metadata": {"namespace": "team-a", "name": name, "uid": f"uid-{name}"}}


def test_events_are_posted_retried_when_transient_and_dropped_when_refused(monkeypatch):
    monkeypatch.setattr(events, "RETRY_DELAYS_SECONDS", (0.01, 0.01))
    core = FakeCore({"Throttled": [429, 503], "Refused": [400], "Hopeless": [500, 500, 500]})

    async def scenario():
        poster = EventPoster(core, instance="operator-0")
        writers = asyncio.create_task(poster.run())
        for reason in ("Created", "Throttled", "Refused", "Hopeless"):
            poster.post(job("x" * 253), "Normal", reason, f"{reason} message")
        await asyncio.sleep(0.3)
        writers.cancel()

    dropped = {cause: EVENTS_DROPPED.labels(cause)._value.get() for cause in ("refused", "unreachable")}
    asyncio.run(scenario())
    assert EVENTS_DROPPED.labels("refused")._value.get() == dropped["refused"] + 1
    assert EVENTS_DROPPED.labels("unreachable")._value.get() == dropped["unreachable"] + 1
    posted = {body["reason"]: body for _, body in core.created}
    assert set(posted) == {"Created", "Throttled"}
    assert core.attempts == {"Created": 1, "Throttled": 3, "Refused": 1, "Hopeless": 3}
    created = posted["Created"]
    assert created["involvedObject"] == {"apiVersion": "sagemaker.kubemaker.io/v1alpha1", "kind": "TrainingJob",
                                         "namespace": "team-a", "name": "x" * 253, "uid": "uid-" + "x" * 253}
    assert created["metadata"]["generateName"] == "x" * 200 + "."
    assert created["source"] == {"component": "kubemaker"} and created["reportingInstance"] == "operator-0"
    assert created["type"] == "Normal" and created["message"] == "Created message"
