"""Certificates and keys for the local control plane and node: a CA, serving and client
certificates signed by it, and the service-account signing key, all generated fresh for each
control plane."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)
# The API server's identity towards the kubelets (logs, exec, port-forward), in system:masters.
KUBELET_CLIENT_NAME = "apiserver-kubelet-client"


def _write_key(key, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization) for organization in organizations]
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _alternative_names(hosts: tuple[str, ...]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _sign(ca_cert: x509.Certificate, ca_key, common_name: str, organizations: tuple[str, ...], hosts: tuple[str, ...]):
    """A leaf certificate: for serving `hosts` when any are given, else for client authentication."""
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organizations))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )
    if hosts:
        builder = builder.add_extension(_alternative_names(hosts), critical=False).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def issue_certificate(
    directory: Path, name: str, common_name: str, organizations: tuple[str, ...] = (), hosts: tuple[str, ...] = ()
) -> dict[str, Path]:
    """Writes `name`.crt/.key signed by the CA in `directory` (from write_control_plane_certs).
    Kubernetes reads a client certificate's common name as the user and its organizations as groups."""
    ca_cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
    cert, key = _sign(ca_cert, ca_key, common_name, organizations, hosts)
    paths = {"cert": directory / f"{name}.crt", "key": directory / f"{name}.key"}
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, paths["key"])
    return paths


def write_control_plane_certs(directory: Path) -> dict[str, Path]:
    """Writes ca.crt/.key, apiserver.crt/.key (for 127.0.0.1 and localhost), the API server's
    client certificate towards kubelets and sa.key/.pub."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("kubemaker-local-ca"))
        .issuer_name(_name("kubemaker-local-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    serving_cert, serving_key = _sign(
        ca_cert, ca_key, "kube-apiserver", (), ("localhost", "kubernetes.default.svc", "127.0.0.1")
    )
    # Service-account tokens are signed with RSA by default.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    paths = {
        "ca": directory / "ca.crt",
        "ca_key": directory / "ca.key",
        "cert": directory / "apiserver.crt",
        "key": directory / "apiserver.key",
        "sa_key": directory / "sa.key",
        "sa_pub": directory / "sa.pub",
    }
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(ca_key, paths["ca_key"])
    paths["cert"].write_bytes(serving_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(serving_key, paths["key"])
    _write_key(sa_key, paths["sa_key"])
    paths["sa_pub"].write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    kubelet_client = issue_certificate(
        directory, KUBELET_CLIENT_NAME, "kube-apiserver-kubelet-client", ("system:masters",)
    )
    paths["kubelet_client_cert"], paths["kubelet_client_key"] = kubelet_client["cert"], kubelet_client["key"]
    return paths
