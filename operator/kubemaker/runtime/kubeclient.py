"""The operator's Kubernetes client: JSON requests by path over urllib3, with credentials found the
way client-go finds them (in a pod: the service account; outside: the kubeconfig, through kopf's own
reader). Every call the operator makes sends or reads plain JSON, so the official client's thousand
generated model classes (55 MiB of the operator's memory) buy nothing here.

The connection pool blocks at its size instead of opening connections it then throws away: its size
is the number of threads that use it, so no request ever waits for a connection."""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kopf
import urllib3

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# client-go reads a projected service account token again at most a minute after it last read it:
# the kubelet rotates the file well before the token expires.
TOKEN_REREAD_SECONDS = 60
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 60
USER_AGENT = "kubemaker"
JSON = "application/json"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"


class ApiError(Exception):
    """The API server answered with an error status; `body` is its Status object, as sent."""

    def __init__(self, status: int, reason: str, body: bytes = b"") -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason, self.body = status, reason, body

    @property
    def message(self) -> str:
        """The API server's own words from its Status answer."""
        try:
            return str(json.loads(self.body)["message"])
        except (TypeError, ValueError, KeyError):
            return self.reason


# What a request can fail with besides an answer: no connection, a timeout, a dropped stream.
TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError,)


@dataclass
class Connection:
    """Where the API server is and how to prove who we are."""

    server: str
    ca_file: str | None = None
    ca_data: str | None = None
    insecure: bool = False
    token: str | None = None
    token_file: Path | None = None  # read again now and then: a pod's token rotates
    cert_file: str | None = None
    key_file: str | None = None
    username: str | None = None
    password: str | None = None
    namespace: str | None = None
    _token_read_at: float = float("-inf")

    def bearer_token(self) -> str | None:
        if self.token_file is not None and time.monotonic() - self._token_read_at > TOKEN_REREAD_SECONDS:
            self.token, self._token_read_at = self.token_file.read_text().strip(), time.monotonic()
        return self.token

    def for_kopf(self) -> kopf.ConnectionInfo:
        """The same credentials for kopf's watches; kopf logs in again (and we read the token again)
        when the API server refuses them."""
        return kopf.ConnectionInfo(
            server=self.server, ca_path=self.ca_file, ca_data=self.ca_data, insecure=self.insecure,
            token=self.bearer_token(), certificate_path=self.cert_file, private_key_path=self.key_file,
            username=self.username, password=self.password, default_namespace=self.namespace,
        )


def in_cluster() -> Connection | None:
    """A pod's own service account, at the address the kubelet puts in its environment."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    token_file = SERVICE_ACCOUNT / "token"
    if not host or not port or not token_file.exists():
        return None
    namespace_file = SERVICE_ACCOUNT / "namespace"
    return Connection(
        server=f"https://{f'[{host}]' if ':' in host else host}:{port}",
        ca_file=str(SERVICE_ACCOUNT / "ca.crt"), token_file=token_file,
        namespace=namespace_file.read_text().strip() if namespace_file.exists() else None,
    )


def from_kubeconfig() -> Connection | None:
    """The current context of $KUBECONFIG or ~/.kube/config, read by kopf's reader (token, client
    certificate, basic auth; not exec plugins)."""
    info = kopf.login_with_kubeconfig(settings=kopf.OperatorSettings())
    if info is None:
        return None
    return Connection(
        server=info.server.rstrip("/"), ca_file=_path(info.ca_path), ca_data=_decoded(info.ca_data),
        insecure=bool(info.insecure), token=info.token,
        cert_file=_path(info.certificate_path) or _private_file(info.certificate_data),
        key_file=_path(info.private_key_path) or _private_file(info.private_key_data),
        username=info.username, password=info.password, namespace=info.default_namespace,
    )


def load_connection() -> Connection:
    connection = in_cluster() or from_kubeconfig()
    if connection is None:
        raise kopf.LoginError("no Kubernetes credentials: neither a service account nor a kubeconfig")
    return connection


def _path(value: Any) -> str | None:
    return os.fsdecode(value) if value else None


def _decoded(data: str | bytes | None) -> str | None:
    """kubeconfig's inline (base64) PEM as text."""
    return base64.b64decode(data).decode() if data else None


def _private_file(data: str | bytes | None) -> str | None:
    """urllib3 reads a client certificate and key only from files: kubeconfig's inline (base64) data
    goes to a file only we can read."""
    if not data:
        return None
    handle, path = tempfile.mkstemp(prefix="kubemaker-", suffix=".pem")
    with os.fdopen(handle, "wb") as file:  # mkstemp makes it 0600
        file.write(base64.b64decode(data))
    return path


def _tls_context(connection: Connection) -> ssl.SSLContext:
    if connection.insecure:
        context = urllib3.util.create_urllib3_context(cert_reqs=ssl.CERT_NONE)
    else:
        context = urllib3.util.create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
        if connection.ca_file or connection.ca_data:
            context.load_verify_locations(cafile=connection.ca_file, cadata=connection.ca_data)
        else:
            context.load_default_certs()
    if connection.cert_file:
        context.load_cert_chain(connection.cert_file, connection.key_file)
    return context


class KubeClient:
    """Blocking JSON calls to the API server, safe from many threads at once."""

    def __init__(self, connection: Connection, pool_size: int) -> None:
        self.connection = connection
        # One TLS context for every connection: urllib3 otherwise builds one per connection, reading
        # the CA and client certificate again each time.
        tls: dict[str, Any] = {}
        if connection.server.startswith("https:"):
            tls = {"ssl_context": _tls_context(connection)}
        self._pool = urllib3.PoolManager(
            num_pools=1, maxsize=pool_size, block=True, **tls,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS),
            # No retries here, and no warning per retried request: a failed request is a transient
            # fault, which the pass that made it retries with backoff.
            retries=False,
        )
        self._auth_lock = threading.Lock()

    def request(self, method: str, path: str, body: Any = None, *, query: list[tuple[str, str]] | None = None,
                content_type: str = JSON, timeout: float | None = None, read: bool = True) -> Any:
        """The answer as JSON (None when `read` is False: an answer nobody reads is not parsed);
        raises ApiError for an error status."""
        url = self.connection.server + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        headers = {"Accept": JSON, "Content-Type": content_type, "User-Agent": USER_AGENT, **self._auth()}
        response = self._pool.request(
            method, url, body=None if body is None else json.dumps(body).encode(), headers=headers,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=timeout) if timeout else None,
        )
        if response.status >= 400:
            raise ApiError(response.status, response.reason or "", response.data)
        if not read or not response.data:
            return None
        return json.loads(response.data)

    def _auth(self) -> dict[str, str]:
        with self._auth_lock:  # one thread re-reads a rotated token, not all of them
            token = self.connection.bearer_token()
        if token:
            return {"Authorization": f"Bearer {token}"}
        if self.connection.username:
            return urllib3.make_headers(basic_auth=f"{self.connection.username}:{self.connection.password or ''}")
        return {}
