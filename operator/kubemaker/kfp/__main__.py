"""`python -m kubemaker.kfp`: one pipeline step that runs one of our objects to the end.

It applies the manifest (server-side apply, or a create for `metadata.generateName`), waits until the
object is Ready for its current generation, and writes the outputs KFP asked for. A Stalled object
fails the step with the operator's reason and message; a cancelled run (SIGTERM) deletes the object
the step created, so the operator stops the SageMaker job (its deletionPolicy permitting).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import kubernetes
import yaml

from .. import API_GROUP, API_VERSION
from ..api.registry import kind_info

FIELD_MANAGER = "kubemaker-kfp"
POD_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
CANCELLED_EXIT_CODE = 143  # 128 + SIGTERM, what a shell reports for a terminated command
DELETE_WAIT_SECONDS = 20


class StepFailed(Exception):
    """The object cannot become Ready: the step fails with this message."""


class Cancelled(BaseException):
    """SIGTERM: KFP is cancelling the run. A BaseException, so no `except Exception` swallows it."""


def set_path(manifest: dict, assignment: str) -> None:
    """Applies `spec.a.b=value`; an empty value leaves the manifest as it is (an unset optional input)."""
    path, separator, value = assignment.partition("=")
    if not separator:
        raise SystemExit(f"--set {assignment}: expected path=value")
    if value == "":
        return
    *parents, leaf = path.split(".")
    node = manifest
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def load_manifest(text: str, assignments: list[str]) -> dict:
    path = Path(text)
    manifest = yaml.safe_load(path.read_text() if "\n" not in text and path.is_file() else text)
    if not isinstance(manifest, dict) or manifest.get("apiVersion") != f"{API_GROUP}/{API_VERSION}":
        raise SystemExit(f"--manifest must be one object of apiVersion {API_GROUP}/{API_VERSION}")
    for assignment in assignments:
        set_path(manifest, assignment)
    return manifest


def pod_namespace() -> str:
    return POD_NAMESPACE_FILE.read_text().strip() if POD_NAMESPACE_FILE.exists() else "default"


def load_kube_config() -> None:
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()


def condition(obj: dict, condition_type: str) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == condition_type), {})


def current_and_true(obj: dict, condition_type: str) -> bool:
    found = condition(obj, condition_type)
    return found.get("status") == "True" and found.get("observedGeneration") == obj["metadata"].get("generation")


class Step:
    def __init__(self, api: Any, manifest: dict, namespace: str):
        self.api = api
        self.manifest = manifest
        self.kind = manifest["kind"]
        self.plural = kind_info(self.kind).plural
        self.namespace = namespace
        self.name: str | None = manifest["metadata"].get("name")
        self.created = False

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    def get(self) -> dict | None:
        try:
            return self.api.get_namespaced_custom_object(API_GROUP, API_VERSION, self.namespace, self.plural, self.name)
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return None
            raise

    def apply(self) -> None:
        self.manifest["metadata"]["namespace"] = self.namespace
        try:
            if self.name is None:
                created = self.api.create_namespaced_custom_object(
                    API_GROUP, API_VERSION, self.namespace, self.plural, self.manifest, field_manager=FIELD_MANAGER
                )
                self.name, self.created = created["metadata"]["name"], True
            else:
                self.created = self.get() is None
                self.api.patch_namespaced_custom_object(
                    API_GROUP, API_VERSION, self.namespace, self.plural, self.name, self.manifest,
                    field_manager=FIELD_MANAGER, force=True, _content_type="application/apply-patch+yaml",
                )
        except kubernetes.client.ApiException as error:
            # The API server's refusal names the field (e.g. an immutable job spec changed).
            raise StepFailed(f"the API server refused {self.kind} {self.name or ''}: {api_message(error)}") from None
        print(f"{'created' if self.created else 'applied'} {self.ref}", flush=True)

    def wait(self, timeout: float, poll: float) -> dict:
        deadline = time.monotonic() + timeout
        last_state = None
        while True:
            obj = self.get()
            if obj is None:
                raise StepFailed(f"{self.ref} was deleted while the step waited for it")
            state = describe_state(obj)
            if state != last_state:
                print(f"{self.ref}: {state}", flush=True)
                last_state = state
            if current_and_true(obj, "Stalled"):
                stalled = condition(obj, "Stalled")
                raise StepFailed(f"{self.ref} is Stalled: {stalled.get('reason')}: {stalled.get('message')}")
            if current_and_true(obj, "Ready"):
                return obj
            if time.monotonic() > deadline:
                raise StepFailed(f"{self.ref} not Ready after {timeout:.0f}s (last: {state})")
            time.sleep(poll)

    def delete_if_created(self) -> None:
        """On cancel: deletes only what this step created, never an object it found."""
        if not self.created or self.name is None:
            print(f"run cancelled; {self.ref} was not created by this step and is left as it is", flush=True)
            return
        print(f"run cancelled; deleting {self.ref}", flush=True)
        try:
            self.api.delete_namespaced_custom_object(API_GROUP, API_VERSION, self.namespace, self.plural, self.name)
        except kubernetes.client.ApiException as error:
            if error.status != 404:
                raise
        # The operator's finalizer holds the object until SageMaker has stopped it; wait a little.
        deadline = time.monotonic() + DELETE_WAIT_SECONDS
        while time.monotonic() < deadline and self.get() is not None:
            time.sleep(0.5)


def api_message(error: kubernetes.client.ApiException) -> str:
    try:
        return json.loads(error.body).get("message") or str(error.reason)
    except (TypeError, ValueError):
        return str(error.reason)


def describe_state(obj: dict) -> str:
    """SageMaker's words (trainingJobStatus, secondaryStatus, ...), else the operator's Ready reason."""
    status = obj.get("status") or {}
    states = [value for key, value in status.items() if key.endswith("Status") and isinstance(value, str)]
    return ", ".join(states) or condition(obj, "Ready").get("reason") or "waiting for the operator"


# Kinds whose SageMaker object is named by another status field than the kind's name field: a model
# package version by its ARN (its name is its group's).
SAGEMAKER_IDENTITY = {"ModelPackage": "modelPackageArn"}


def outputs(kind: str, obj: dict) -> dict[str, str]:
    status = obj.get("status") or {}
    return {
        "name": obj["metadata"]["name"],
        "sagemaker_name": status.get(SAGEMAKER_IDENTITY.get(kind, kind_info(kind).name_field)) or "",
        "model_artifact_uri": (status.get("modelArtifacts") or {}).get("s3ModelArtifacts") or "",
        "endpoint_name": status.get("endpointName") or "",
    }


def write_outputs(values: dict[str, str], paths: dict[str, str | None]) -> None:
    for key, path in paths.items():
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(values[key])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kubemaker.kfp", description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True, help="the object, as YAML/JSON text or a file path")
    parser.add_argument("--namespace", default="", help="default: the manifest's, else the pod's namespace")
    parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                        help="set a string field, e.g. spec.primaryContainer.modelDataUrl=s3://...; empty: no change")
    parser.add_argument("--timeout-seconds", type=float, default=5 * 24 * 3600)
    parser.add_argument("--poll-seconds", type=float, default=5.0)
    for output in ("name", "sagemaker-name", "model-artifact-uri", "endpoint-name"):
        parser.add_argument(f"--output-{output}", metavar="PATH", help=f"write the {output.replace('-', ' ')} here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    manifest = load_manifest(args.manifest, args.set)
    load_kube_config()
    namespace = args.namespace or manifest["metadata"].get("namespace") or pod_namespace()
    step = Step(kubernetes.client.CustomObjectsApi(), manifest, namespace)

    def cancel(_signum: int, _frame: Any) -> None:
        raise Cancelled()

    signal.signal(signal.SIGTERM, cancel)
    try:
        step.apply()
        obj = step.wait(args.timeout_seconds, args.poll_seconds)
    except Cancelled:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
        step.delete_if_created()
        return CANCELLED_EXIT_CODE
    except StepFailed as failure:
        print(f"step failed: {failure}", file=sys.stderr, flush=True)
        return 1
    values = outputs(step.kind, obj)
    write_outputs(values, {"name": args.output_name, "sagemaker_name": args.output_sagemaker_name,
                           "model_artifact_uri": args.output_model_artifact_uri,
                           "endpoint_name": args.output_endpoint_name})
    print(f"{step.ref} is Ready: {json.dumps({k: v for k, v in values.items() if v})}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
