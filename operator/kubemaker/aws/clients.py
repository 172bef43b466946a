"""boto3 clients per (region, assumed role), shared by every object of a namespace with that pair.

Throttling and 5xx are retried with jittered exponential backoff: briefly by botocore (standard
mode), then by `call`, which waits on the event loop. Not botocore's adaptive mode: its client-side
rate limiter makes a blocked worker thread wait for a token, and under sustained throttling it
fell to a fraction of a request a second while all 32 threads, which the status writes share,
waited in it: the whole operator stopped (bench/trainingjobs.py --jobs 1000 --throttle 0.1).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import functools
import random
import threading
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config

from .. import metrics
from .errors import is_retryable
from ..config import OperatorConfig

USER_AGENT = "kubemaker/0.1"
# botocore sleeps between its attempts in the worker thread: few, so threads stay free.
MAX_ATTEMPTS = 3
CALL_ATTEMPTS = 5
CALL_BACKOFF_SECONDS = 0.2
CALL_BACKOFF_CAP_SECONDS = 5.0
# AWS calls run in threads of their own: a SageMaker slowdown (throttling, retries, timeouts) must
# never make the Kubernetes status writes and reads in the default executor wait for a thread.
AWS_THREADS = 32
_aws_threads = concurrent.futures.ThreadPoolExecutor(AWS_THREADS, thread_name_prefix="aws")
# Credentials are renewed this long before they expire, so no call carries a dying token.
CREDENTIAL_MARGIN = datetime.timedelta(minutes=5)


def client_config() -> botocore.config.Config:
    return botocore.config.Config(
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        connect_timeout=5,
        read_timeout=30,
        user_agent_extra=USER_AGENT,
        max_pool_connections=32,
    )


@dataclass
class _AssumedSession:
    session: boto3.Session
    expires: datetime.datetime


class AwsClients:
    def __init__(self, config: OperatorConfig):
        self.config = config
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str, str | None], Any] = {}
        self._assumed: dict[tuple[str, str], _AssumedSession] = {}
        self._base_session = boto3.Session()

    def role_for(self, namespace: str) -> str | None:
        return self.config.policy_for(namespace).assume_role_arn

    def client(self, service: str, namespace: str, region: str | None) -> Any:
        region = region or self.config.region
        role = self.role_for(namespace)
        key = (service, region, role)
        with self._lock:
            if role is not None:
                assumed = self._assumed.get((region, role))
                if assumed is None or assumed.expires - CREDENTIAL_MARGIN < _now():
                    self._assumed[(region, role)] = self._assume(role, region)
                    self._clients.pop(key, None)
                session = self._assumed[(region, role)].session
            else:
                session = self._base_session
            client = self._clients.get(key)
            if client is None:
                client = session.client(
                    service, region_name=region, endpoint_url=self.config.endpoint_url, config=client_config()
                )
                metrics.instrument_client(client)
                self._clients[key] = client
            return client

    def _assume(self, role_arn: str, region: str) -> _AssumedSession:
        sts = self._base_session.client(
            "sts", region_name=region, endpoint_url=self.config.endpoint_url, config=client_config()
        )
        credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="kubemaker-operator")["Credentials"]
        session = boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        return _AssumedSession(session, credentials["Expiration"])


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


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
