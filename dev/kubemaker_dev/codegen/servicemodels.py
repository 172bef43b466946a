"""The service models the operator's AWS clients load (operator/kubemaker/aws/data/): botocore's own,
with only the operations the operator's code calls and the shapes their requests, answers and
errors reach. SageMaker's whole model is 425 operations and 3200 shapes, 14 MiB of Python objects in
every process that makes a client; the operator calls a few dozen.

The operations are found in the code itself, so a new call is in the models after `make generate`
(and the check that generated files are current fails until then): the boto3 method names the
operator's modules spell out (`call(client, "create_model", ...)`, ListShape("list_training_jobs",
...), planner actions) and methods called directly on a client (`sts.assume_role(...)`).

botocore's endpoint data (endpoints.json: every service in every region, 4 MiB of Python objects
per copy) is cut the same way, to these services; the partitions and their regions stay whole."""

from __future__ import annotations

import ast
import json
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders

REPO_ROOT = Path(__file__).resolve().parents[3]
PACKAGE = REPO_ROOT / "operator" / "kubemaker"
DATA_DIR = PACKAGE / "aws" / "data"
MODEL = "service-2"
ENDPOINTS = "endpoints"
# Services the operator calls.
SERVICES = ("sagemaker", "application-autoscaling", "logs", "sts", "s3")
# Not the operator: the API models, the KFP step, commands users run with their own credentials and
# clients, and the steps of training pods on the cluster, which run with the pods' own.
NOT_THE_OPERATOR = ("api/", "kfp/", "logs.py", "cli.py", "cluster/pod.py")


@cache
def method_names() -> dict[str, dict[str, str]]:
    """Per service, boto3 method name -> API operation name, from botocore's whole models."""
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return {service: session.client(service).meta.method_to_api_mapping for service in SERVICES}


def called_operations() -> dict[str, set[str]]:
    """Per service, the API operations the operator's modules name."""
    found: dict[str, set[str]] = {service: set() for service in SERVICES}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).as_posix().startswith(NOT_THE_OPERATOR):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.append(node.value)
            func = node.func if isinstance(node, ast.Call) else None
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                receiver = func.value.id
                if receiver in SERVICES or receiver.endswith("client"):
                    names.append(func.attr)
            for name in names:
                for service, mapping in method_names().items():
                    if name in mapping:
                        found[service].add(mapping[name])
    return found


def pruned(model: dict[str, Any], operations: set[str]) -> dict[str, Any]:
    """The model with only `operations`, and the shapes their inputs, outputs and errors reach."""
    chosen = {name: model["operations"][name] for name in sorted(operations)}
    pending = [op[part]["shape"] for op in chosen.values() for part in ("input", "output") if part in op]
    pending += [error["shape"] for op in chosen.values() for error in op.get("errors", [])]
    kept: set[str] = set()
    while pending:
        name = pending.pop()
        if name in kept:
            continue
        kept.add(name)
        shape = model["shapes"][name]
        pending += [member["shape"] for member in shape.get("members", {}).values()]
        pending += [shape[part]["shape"] for part in ("member", "key", "value") if part in shape]
    return {**model, "operations": chosen, "shapes": {name: model["shapes"][name] for name in sorted(kept)}}


def pruned_endpoints(endpoints: dict[str, Any], prefixes: set[str]) -> dict[str, Any]:
    """The endpoint data with only the services whose endpoint prefixes are `prefixes`."""
    partitions = [{**partition, "services": {name: service for name, service in partition["services"].items()
                                             if name in prefixes}}
                  for partition in endpoints["partitions"]]
    return {**endpoints, "partitions": partitions}


def render() -> dict[Path, str]:
    """Each pruned model at the path botocore's loader looks for it: <service>/<version>/service-2.json,
    and the pruned endpoint data as endpoints.json."""
    loader = botocore.loaders.Loader()
    files = {}
    prefixes = set()
    for service, operations in called_operations().items():
        version = loader.determine_latest_version(service, MODEL)
        model = loader.load_service_model(service, MODEL, version)
        prefixes.add(model["metadata"]["endpointPrefix"])
        files[DATA_DIR / service / version / f"{MODEL}.json"] = _json(pruned(model, operations))
    files[DATA_DIR / f"{ENDPOINTS}.json"] = _json(pruned_endpoints(loader.load_data(ENDPOINTS), prefixes))
    return files


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":")) + "\n"
