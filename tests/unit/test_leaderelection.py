"""The leader election's decisions, as pure functions: given the Lease read, when its record last
changed (by our clock), now and our identity, what a replica does; and when a leader steps down."""

from __future__ import annotations

import datetime

import pytest
from pydantic import ValidationError

from kubemaker.config import LeaderElectionConfig, load_config
from kubemaker.runtime.leaderelection import (
    Action, LeaseRecord, decide, held_spec, micro_time, must_step_down, released_spec,
)

ME = "kubemaker-7d9f-abcde_1b2c"
OTHER = "kubemaker-7d9f-fghij_3d4e"
WALL = datetime.datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=datetime.timezone.utc)


def record(holder: str = OTHER, duration: int = 15, transitions: int = 3, version: str = "42") -> LeaseRecord:
    return LeaseRecord(holder=holder, lease_duration_seconds=duration, transitions=transitions,
                       acquire_time="2026-12-01T08:00:00.000000Z", resource_version=version)


@pytest.mark.parametrize(
    "lease, seen_since, now, action",
    [
        (None, 0, 100, Action.CREATE),
        (record(holder=ME), 0, 1000, Action.RENEW),  # ours, however old: renew it
        (record(), 100, 100, Action.WAIT),  # another holder's, just seen
        (record(), 100, 114.9, Action.WAIT),  # unchanged for less than its duration
        (record(), 100, 115, Action.ACQUIRE),  # unchanged for its whole duration: expired
        (record(duration=60), 100, 130, Action.WAIT),  # the holder's duration counts, not ours
        (record(holder=""), 100, 100, Action.ACQUIRE),  # released: take it at once
        (record(holder="", duration=1), 100, 100.1, Action.ACQUIRE),
    ],
)
def test_what_a_replica_does_with_the_lease_it_read(lease, seen_since, now, action):
    assert decide(lease, ME, seen_since, now) is action


def test_expiry_is_timed_by_our_clock_from_when_we_saw_the_record_change():
    # The renewTime written by the holder plays no part (it may be hours off by our clock): a standby
    # that has just started waits the whole duration from its first look.
    assert decide(record(), ME, record_seen_since=5000, now=5010) is Action.WAIT
    assert decide(record(), ME, record_seen_since=5000, now=5015) is Action.ACQUIRE


@pytest.mark.parametrize("last_renewal, now, step_down", [(100, 105, False), (100, 109.99, False), (100, 110, True),
                                                           (100, 200, True)])
def test_a_leader_steps_down_at_the_renew_deadline(last_renewal, now, step_down):
    assert must_step_down(last_renewal, now, renew_deadline=10) is step_down


def test_a_leader_steps_down_before_the_lease_can_expire_for_anyone():
    # The leader times its deadline from before its last successful write; every other replica saw
    # that write no earlier, and waits the whole lease duration from then.
    config = LeaderElectionConfig()
    last_write_started = 1000.0
    seen_by_standby = last_write_started + 0.05
    stops_at = next(t / 100 for t in range(100_000, 200_000) if must_step_down(last_write_started, t / 100,
                                                                               config.renew_deadline_seconds))
    first_takeover = next(t / 100 for t in range(100_000, 200_000)
                          if decide(record(duration=config.lease_duration_seconds), ME, seen_by_standby, t / 100)
                          is Action.ACQUIRE)
    assert stops_at < first_takeover
    assert first_takeover - stops_at >= config.lease_duration_seconds - config.renew_deadline_seconds


def test_a_renewal_keeps_the_acquire_time_and_transitions_and_moves_the_renew_time():
    spec = held_spec(Action.RENEW, record(holder=ME, transitions=3), ME, 15, WALL)
    assert spec == {"holderIdentity": ME, "leaseDurationSeconds": 15, "renewTime": "2026-12-01T09:00:00.123456Z",
                    "acquireTime": "2026-12-01T08:00:00.000000Z", "leaseTransitions": 3}


def test_a_takeover_counts_one_more_transition_and_starts_a_new_tenure():
    spec = held_spec(Action.ACQUIRE, record(transitions=3), ME, 15, WALL)
    assert spec["holderIdentity"] == ME and spec["leaseTransitions"] == 4
    assert spec["acquireTime"] == spec["renewTime"] == "2026-12-01T09:00:00.123456Z"
    released_then_taken = held_spec(Action.ACQUIRE, record(holder="", transitions=4), ME, 15, WALL)
    assert released_then_taken["leaseTransitions"] == 5


def test_the_first_holder_creates_the_lease_with_no_transitions():
    assert held_spec(Action.CREATE, None, ME, 15, WALL) == {
        "holderIdentity": ME, "leaseDurationSeconds": 15, "renewTime": micro_time(WALL),
        "acquireTime": micro_time(WALL), "leaseTransitions": 0,
    }


def test_release_clears_the_holder_as_client_go_release_on_cancel_does():
    spec = released_spec(record(holder=ME, transitions=7), WALL)
    assert "holderIdentity" not in spec  # a PUT without it clears it
    assert spec["leaseDurationSeconds"] == 1 and spec["leaseTransitions"] == 7
    assert decide(LeaseRecord.from_lease({"metadata": {"resourceVersion": "43"}, "spec": spec}), OTHER, 100, 100) \
        is Action.ACQUIRE


def test_a_lease_as_the_api_server_returns_it():
    lease = {"metadata": {"name": "kubemaker", "resourceVersion": "981"},
             "spec": {"holderIdentity": OTHER, "leaseDurationSeconds": 15, "leaseTransitions": 2,
                      "acquireTime": "2026-12-01T08:59:00.000000Z", "renewTime": "2026-12-01T09:00:00.000000Z"}}
    assert LeaseRecord.from_lease(lease) == LeaseRecord(OTHER, 15, 2, "2026-12-01T08:59:00.000000Z", "981")
    # A Lease created by hand, with nothing in its spec, is free.
    empty = LeaseRecord.from_lease({"metadata": {"resourceVersion": "1"}, "spec": {}})
    assert empty.holder == "" and decide(empty, ME, 0, 0) is Action.ACQUIRE


def test_micro_time_is_utc_with_microseconds():
    tokyo = datetime.timezone(datetime.timedelta(hours=9))
    assert micro_time(datetime.datetime(2026, 12, 1, 18, 0, 0, 5, tzinfo=tokyo)) == "2026-12-01T09:00:00.000005Z"


def test_controller_runtime_defaults():
    config = LeaderElectionConfig()
    assert (config.lease_duration_seconds, config.renew_deadline_seconds, config.retry_period_seconds) == (15, 10, 2)
    assert config.enabled and config.lease_name == "kubemaker" and config.lease_namespace is None


@pytest.mark.parametrize(
    "timings, complaint",
    [
        ({"leaseDurationSeconds": 10, "renewDeadlineSeconds": 10}, "less than leaseDurationSeconds"),
        ({"renewDeadlineSeconds": 2.4, "retryPeriodSeconds": 2}, "1.2 x retryPeriodSeconds"),
        ({"retryPeriodSeconds": 0}, "greater than 0"),
    ],
)
def test_timings_that_would_let_two_leaders_overlap_are_refused(timings, complaint):
    with pytest.raises(ValidationError, match=complaint):
        LeaderElectionConfig.model_validate(timings)


def test_flags_override_single_keys_of_the_file_section(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("leaderElection: {leaseNamespace: ops, leaseDurationSeconds: 30, renewDeadlineSeconds: 20}\n")
    config = load_config(path, {"leaderElection": {"leaseName": "from-flag", "leaseNamespace": None}})
    election = config.leader_election
    assert (election.lease_name, election.lease_namespace, election.lease_duration_seconds) == ("from-flag", "ops", 30)
