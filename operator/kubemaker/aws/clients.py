"""boto3 clients per (region, assumed role), shared by every object of a namespace with that pair.

The clients of one assumed role in one region share one set of botocore refreshable credentials:
AssumeRole runs about once per credential lifetime, in the worker thread of a request, for all of
them, and indefinitely.

Throttling and 5xx are retried with jittered exponential backoff: briefly by botocore (standard
mode), then by `call`, which waits on the event loop. Not botocore's adaptive mode: its client-side
rate limiter makes a blocked worker thread wait for a token, and under sustained throttling it
fell to a fraction of a request a second while all the worker threads, which the status writes shared,
waited in it: the whole operator stopped (bench/trainingjobs.py --jobs 1000 --throttle 0.1).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import email.utils
import functools
import logging
import random
import threading
import time
from typing import Any

import boto3
import botocore.config
import botocore.credentials
import botocore.session

from .. import metrics
from ..config import OperatorConfig
from .errors import EXPIRED_TOKEN_CODES, is_retryable
from .models import use_operator_models

USER_AGENT = "kubemaker/0.1"
# botocore sleeps between its attempts in the worker thread: few, so threads stay free.
MAX_ATTEMPTS = 3
CALL_ATTEMPTS = 5
CALL_BACKOFF_SECONDS = 0.2
CALL_BACKOFF_CAP_SECONDS = 5.0
# AWS calls run in threads of their own: a SageMaker slowdown (throttling, retries, timeouts) must
# never make the Kubernetes status writes and reads in the default executor wait for a thread.
AWS_THREADS = 16
_aws_threads = concurrent.futures.ThreadPoolExecutor(AWS_THREADS, thread_name_prefix="aws")
ROLE_SESSION_NAME = "kubemaker-operator"
# botocore refreshes 15 minutes before expiry (10: every request waits for it). For an hour's
# credentials that is a quarter and a sixth of the lifetime: the same shares renew credentials of any
# lifetime once, well before they expire.
ADVISORY_REFRESH_SECONDS, ADVISORY_REFRESH_SHARE = 15 * 60, 0.25
MANDATORY_REFRESH_SECONDS, MANDATORY_REFRESH_SHARE = 10 * 60, 1 / 6
# The HTTP Date header counts whole seconds.
CLOCK_RESOLUTION_SECONDS = 1.0
# An expired-token refusal right after a refresh came from a request signed before it: no new refresh.
REFUSAL_GRACE_SECONDS = 1.0
# botocore, urllib3 and s3transfer log request headers (Authorization, X-Amz-Security-Token) and
# response bodies (AssumeRole's secret) at DEBUG. Their loggers keep their own level, so kopf's
# --verbose (root at DEBUG) never turns that on.
WIRE_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")
WIRE_LOG_LEVEL = logging.WARNING


def quiet_wire_logging() -> None:
    for name in WIRE_LOGGERS:
        logging.getLogger(name).setLevel(WIRE_LOG_LEVEL)


def client_config() -> botocore.config.Config:
    return botocore.config.Config(
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        connect_timeout=5,
        read_timeout=30,
        user_agent_extra=USER_AGENT,
        max_pool_connections=AWS_THREADS,  # a connection for each thread that calls AWS
    )


class AssumedRoleCredentials(botocore.credentials.DeferredRefreshableCredentials):
    """botocore's self-refreshing credentials for one assumed role, shared by every client of one
    (region, role): each request takes them through `get_frozen_credentials`, which calls AssumeRole
    (in the worker thread making the request, never on the event loop) when they near expiry, once
    for all clients. botocore's fixed windows (15 and 10 minutes) would refresh shorter-lived
    credentials at every request; these windows scale with the lifetime each answer grants."""

    def __init__(self, assume_role: Any) -> None:
        self._assume_role = assume_role
        self._refused = False
        self._fetched_at = float("-inf")
        super().__init__(refresh_using=self._fetch, method="assume-role")

    def _fetch(self) -> dict[str, Any]:
        answer = self._assume_role()
        credentials = answer["Credentials"]
        # The lifetime by STS's own clock (its Date header), placed on ours: a skewed local clock
        # neither renews at every request nor keeps a token STS already counts as expired.
        issued = answered_at(answer) or _now()
        lifetime = max((credentials["Expiration"] - issued).total_seconds() - CLOCK_RESOLUTION_SECONDS, 0.0)
        # Instance values of botocore's own windows (RefreshableCredentials takes them as arguments).
        self._advisory_refresh_timeout = min(lifetime * ADVISORY_REFRESH_SHARE, ADVISORY_REFRESH_SECONDS)
        self._mandatory_refresh_timeout = min(lifetime * MANDATORY_REFRESH_SHARE, MANDATORY_REFRESH_SECONDS)
        self._refused, self._fetched_at = False, time.monotonic()
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": (_now() + datetime.timedelta(seconds=lifetime)).isoformat(),
        }

    def refresh_needed(self, refresh_in: float | None = None) -> bool:
        return self._refused or super().refresh_needed(refresh_in)

    def refused(self) -> None:
        """AWS said the token expired while our clock says it has not (a skewed clock): renew it at the
        next request instead of waiting for the window."""
        if time.monotonic() - self._fetched_at > REFUSAL_GRACE_SECONDS:
            self._refused = True


class _Given(botocore.credentials.CredentialProvider):
    """The one credential provider of an assumed-role session: the shared refreshing credentials."""

    METHOD = "assume-role"

    def __init__(self, credentials: AssumedRoleCredentials) -> None:
        super().__init__()
        self.credentials = credentials

    def load(self) -> AssumedRoleCredentials:
        return self.credentials


class AwsClients:
    def __init__(self, config: OperatorConfig):
        self.config = config
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str, str | None], Any] = {}
        self._assumed: dict[tuple[str, str], tuple[boto3.Session, AssumedRoleCredentials]] = {}
        quiet_wire_logging()  # before the first session: making one logs at DEBUG too
        self._base_session = boto3.Session(botocore_session=use_operator_models(botocore.session.Session()))

    def role_for(self, namespace: str) -> str | None:
        return self.config.policy_for(namespace).assume_role_arn

    def client(self, service: str, namespace: str, region: str | None) -> Any:
        """The cached client; creating one never calls AWS (an assumed role's credentials are fetched
        by its first request), so this is safe on the event loop."""
        region = region or self.config.region
        role = self.role_for(namespace)
        key = (service, region, role)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                credentials = None
                if role is None:
                    session = self._base_session
                else:
                    session, credentials = self._assumed_session(region, role)
                client = session.client(
                    service, region_name=region, endpoint_url=self.config.endpoint_url, config=client_config()
                )
                metrics.instrument_client(client)
                if credentials is not None:
                    client.meta.events.register("after-call", functools.partial(_note_refusal, credentials))
                self._clients[key] = client
            return client

    def _assumed_session(self, region: str, role: str) -> tuple[boto3.Session, AssumedRoleCredentials]:
        """One session per (region, role), whose clients all share one set of refreshing credentials."""
        if (region, role) not in self._assumed:
            sts = self._base_session.client(
                "sts", region_name=region, endpoint_url=self.config.endpoint_url, config=client_config()
            )
            credentials = AssumedRoleCredentials(
                lambda: sts.assume_role(RoleArn=role, RoleSessionName=ROLE_SESSION_NAME)
            )
            botocore_session = use_operator_models(botocore.session.Session())
            botocore_session.register_component(
                "credential_provider", botocore.credentials.CredentialResolver([_Given(credentials)])
            )
            self._assumed[(region, role)] = (boto3.Session(botocore_session=botocore_session), credentials)
        return self._assumed[(region, role)]


def answered_at(response: dict) -> datetime.datetime | None:
    """When AWS answered, by its own clock (the HTTP Date header)."""
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        return email.utils.parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        return None


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _note_refusal(credentials: AssumedRoleCredentials, parsed: dict, **_: Any) -> None:
    if parsed.get("Error", {}).get("Code") in EXPIRED_TOKEN_CODES:
        credentials.refused()


async def call(client: Any, operation: str, **params: Any) -> dict:
    """Runs one boto3 call off the event loop (a blocking call in a coroutine would stall every
    watch and handler of the operator), retrying transient faults.

    botocore retries too, but its retry quota runs dry under sustained faults and then every
    throttle reaches the caller: without this, one fault in a pass of several calls would restart
    the whole reconciliation, and a pass would rarely get through."""
    send = functools.partial(asyncio.get_running_loop().run_in_executor, _aws_threads,
                             functools.partial(getattr(client, operation), **params))
    for attempt in range(1, CALL_ATTEMPTS):
        try:
            return await send()
        except Exception as error:
            if not is_retryable(error):
                raise
            await asyncio.sleep(min(CALL_BACKOFF_SECONDS * 2 ** (attempt - 1), CALL_BACKOFF_CAP_SECONDS)
                                * random.uniform(0.5, 1.5))
    return await send()
