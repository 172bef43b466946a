"""The operator's Kubernetes client: where it finds its credentials, how it presents them, and what
an error answer becomes. A local HTTP server stands in for the API server."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import ssl
import threading
from pathlib import Path

import pytest
import urllib3
import yaml

from kubemaker.runtime import kubeclient
from kubemaker.runtime.kubeclient import JSON_PATCH, ApiError, Connection, KubeClient
from kubemaker_dev.certs import issue_certificate, write_control_plane_certs


def send_json(handler: http.server.BaseHTTPRequestHandler, status: int, answer: dict) -> None:
    data = json.dumps(answer).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


@contextlib.contextmanager
def serving(answer, tls: ssl.SSLContext | None = None):
    """A local server whose GET and PATCH requests `answer(handler)` answers; yields its port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            answer(self)

        do_PATCH = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


@pytest.fixture
def apiserver():
    """Answers with the request it saw, and 404 (a Status) for paths under /missing."""
    seen: list[dict] = []

    def answer(handler):
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        seen.append({"method": handler.command, "path": handler.path, "headers": dict(handler.headers), "body": body})
        if handler.path.startswith("/missing"):
            send_json(handler, 404, {"kind": "Status", "message": 'configmaps "x" not found', "code": 404})
        else:
            send_json(handler, 200, {"kind": "Thing", "path": handler.path})

    with serving(answer) as port:
        yield f"http://127.0.0.1:{port}", seen


@pytest.fixture
def tls_apiserver(tmp_path):
    """The stand-in API server behind TLS with a certificate from a CA of its own, asking for a
    client certificate; answers with the client certificate's name. Yields its URL and the PKI
    (whose client certificate names "kubemaker")."""
    pki = write_control_plane_certs(tmp_path)
    pki.update({f"client_{k}": v for k, v in issue_certificate(tmp_path, "operator", "kubemaker").items()})
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["cert"], pki["key"])
    context.load_verify_locations(pki["ca"])
    context.verify_mode = ssl.CERT_REQUIRED

    def answer(handler):
        subject = dict(entry[0] for entry in handler.connection.getpeercert()["subject"])
        send_json(handler, 200, {"client": subject["commonName"]})

    with serving(answer, context) as port:
        yield f"https://127.0.0.1:{port}", pki


def test_tls_connections_verify_the_api_server_and_present_the_client_certificate(tls_apiserver):
    url, pki = tls_apiserver
    connection = Connection(server=url, ca_data=pki["ca"].read_text(), cert_file=str(pki["client_cert"]),
                            key_file=str(pki["client_key"]))
    client = KubeClient(connection, pool_size=4)
    answers = [client.request("GET", f"/{i}") for i in range(3)]
    assert answers == [{"client": "kubemaker"}] * 3

    # A CA that did not sign the API server's certificate: refused, never sent.
    (pki["ca"].parent / "other").mkdir()
    other_ca = write_control_plane_certs(pki["ca"].parent / "other")["ca"]
    untrusting = KubeClient(Connection(server=url, ca_file=str(other_ca), cert_file=str(pki["client_cert"]),
                                       key_file=str(pki["client_key"])), pool_size=1)
    with pytest.raises(urllib3.exceptions.SSLError):
        untrusting.request("GET", "/x")
    insecure = KubeClient(Connection(server=url, insecure=True, cert_file=str(pki["client_cert"]),
                                     key_file=str(pki["client_key"])), pool_size=1)
    with pytest.warns(urllib3.exceptions.InsecureRequestWarning):
        assert insecure.request("GET", "/y") == {"client": "kubemaker"}


def test_requests_carry_the_token_and_answers_are_json(apiserver):
    url, seen = apiserver
    client = KubeClient(Connection(server=url, token="secret-token"), pool_size=2)
    answer = client.request("GET", "/api/v1/namespaces/team/configmaps/defs", query=[("labelSelector", "a=b")])
    assert answer == {"kind": "Thing", "path": "/api/v1/namespaces/team/configmaps/defs?labelSelector=a%3Db"}
    assert client.request("PATCH", "/apis/x/status", [{"op": "add"}], content_type=JSON_PATCH, read=False) is None
    assert seen[0]["headers"]["Authorization"] == "Bearer secret-token"
    assert seen[1]["headers"]["Content-Type"] == JSON_PATCH and json.loads(seen[1]["body"]) == [{"op": "add"}]


def test_an_error_answer_is_an_api_error_with_the_api_servers_words(apiserver):
    url, _ = apiserver
    client = KubeClient(Connection(server=url, token="t"), pool_size=1)
    with pytest.raises(ApiError) as raised:
        client.request("GET", "/missing/x")
    assert raised.value.status == 404 and raised.value.message == 'configmaps "x" not found'


def test_in_a_pod_the_service_account_is_used_and_its_rotated_token_read_again(tmp_path, monkeypatch, apiserver):
    url, seen = apiserver
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("first\n")
    (account / "namespace").write_text("kubemaker-system")
    (account / "ca.crt").write_text("")
    monkeypatch.setattr(kubeclient, "SERVICE_ACCOUNT", account)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    connection = kubeclient.load_connection()
    assert connection.server == "https://10.96.0.1:443" and connection.namespace == "kubemaker-system"
    assert connection.ca_file == str(account / "ca.crt")

    connection.server = url  # the same connection, against the stand-in API server
    client = KubeClient(connection, pool_size=1)
    client.request("GET", "/a")
    (account / "token").write_text("rotated")
    client.request("GET", "/b")
    assert seen[-1]["headers"]["Authorization"] == "Bearer first", "read again only after a while"
    monkeypatch.setattr(kubeclient, "TOKEN_REREAD_SECONDS", 0)
    client.request("GET", "/c")
    assert seen[-1]["headers"]["Authorization"] == "Bearer rotated"
    assert connection.for_kopf().token == "rotated"


def test_outside_a_pod_the_kubeconfigs_current_context_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    encoded = base64.b64encode(pem.encode()).decode()
    config = {
        "current-context": "dev",
        "contexts": [{"name": "dev", "context": {"cluster": "local", "user": "me", "namespace": "team-a"}},
                     {"name": "other", "context": {"cluster": "local", "user": "someone"}}],
        "clusters": [{"name": "local", "cluster": {"server": "https://127.0.0.1:6443/",
                                                    "certificate-authority-data": encoded}}],
        "users": [{"name": "me", "user": {"client-certificate-data": encoded, "client-key-data": encoded}},
                  {"name": "someone", "user": {"token": "not-this-one"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(path))
    connection = kubeclient.load_connection()
    assert connection.server == "https://127.0.0.1:6443" and connection.namespace == "team-a"
    assert connection.ca_data == pem and connection.token is None
    certificate = Path(connection.cert_file)
    assert certificate.read_text() == pem and certificate.stat().st_mode & 0o077 == 0, "only we may read the key"
