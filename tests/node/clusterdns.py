"""A stand-in for the cluster DNS, which the test world does not run: A records for the pods of
headless Services, <hostname>.<service>.<namespace>.svc.cluster.local, read from the Services'
EndpointSlices (the endpointslice controller writes them, as for CoreDNS). Nothing else resolves.

It answers UDP queries on one node address, port 53; the training pods use it through the
operator's clusterPlacement.dnsConfig."""

from __future__ import annotations

import json
import socket
import struct
import threading

TYPE_A, CLASS_IN = 1, 1
NO_ERROR, NAME_ERROR = 0, 3
TTL_SECONDS = 1


def question(packet: bytes) -> tuple[str, int, int]:
    """The queried name, its type, and where the question ends."""
    labels, position = [], 12
    while packet[position]:
        length = packet[position]
        labels.append(packet[position + 1:position + 1 + length].decode())
        position += 1 + length
    qtype = struct.unpack("!H", packet[position + 1:position + 3])[0]
    return ".".join(labels).lower(), qtype, position + 5


def answer(packet: bytes, address: str | None) -> bytes:
    """The response to `packet`: one A record, no record (the name exists, another type was asked), or
    NXDOMAIN."""
    name, qtype, end = question(packet)
    flags = 0x8180 | (NAME_ERROR if address is None else NO_ERROR)
    records = b""
    if address is not None and qtype == TYPE_A:
        records = struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, TTL_SECONDS, 4) + socket.inet_aton(address)
    header = struct.pack("!HHHHHH", struct.unpack("!H", packet[:2])[0], flags, 1, 1 if records else 0, 0, 0)
    return header + packet[12:end] + records


class ClusterDns:
    def __init__(self, kubectl, address: str):
        self.kubectl, self.address = kubectl, address
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind((address, 53))
        self.queries: list[str] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def start(self) -> ClusterDns:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.socket.close()

    def lookup(self, name: str) -> str | None:
        parts = name.split(".")
        if len(parts) != 6 or parts[3:] != ["svc", "cluster", "local"]:
            return None
        hostname, service, namespace = parts[:3]
        listing = self.kubectl("get", "endpointslices", "-n", namespace, "-l",
                               f"kubernetes.io/service-name={service}", "-o", "json", check=False)
        if listing.returncode != 0:
            return None
        for endpoint_slice in json.loads(listing.stdout)["items"]:
            for endpoint in endpoint_slice.get("endpoints") or []:
                if endpoint.get("hostname") == hostname and endpoint.get("addresses"):
                    return endpoint["addresses"][0]
        return None

    def serve(self) -> None:
        while True:
            try:
                packet, client = self.socket.recvfrom(512)
            except OSError:
                return  # stopped
            try:
                name, _, _ = question(packet)
                self.queries.append(name)
                self.socket.sendto(answer(packet, self.lookup(name)), client)
            except (IndexError, struct.error, UnicodeDecodeError, OSError):
                continue  # not a query we can read: no answer
