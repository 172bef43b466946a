"""SageMaker's training container contract, as its documentation of training containers describes
it: the `/opt/ml` layout, the three config files, the `SM_*` variables and where the model and
output land in S3. Pure: the operator builds the pod from it, and the pod's own containers
(cluster.pod) write the files from the same functions.

The training document is what the operator hands each pod (JSON in KUBEMAKER_TRAINING): the members of
the spec the pod needs, with the names of the job, its hosts and its peers."""

from __future__ import annotations

import json
from typing import Any

OPT_ML = "/opt/ml"
INPUT_DIR = f"{OPT_ML}/input"
CONFIG_DIR = f"{INPUT_DIR}/config"
DATA_DIR = f"{INPUT_DIR}/data"
MODEL_DIR = f"{OPT_ML}/model"
OUTPUT_DIR = f"{OPT_ML}/output"
OUTPUT_DATA_DIR = f"{OUTPUT_DIR}/data"
FAILURE_FILE = f"{OUTPUT_DIR}/failure"
DEFAULT_CHECKPOINT_DIR = f"{OPT_ML}/checkpoints"
# SageMaker keeps the first 1024 characters of the failure file as FailureReason.
FAILURE_REASON_LENGTH = 1024
MODEL_ARCHIVE, OUTPUT_ARCHIVE = "model.tar.gz", "output.tar.gz"
DOCUMENT_VARIABLE = "KUBEMAKER_TRAINING"
# Per-host values, which one pod template cannot hold: the stage container writes them to an env
# file that the training container's variables read (Kubernetes' EnvFiles).
PER_HOST_VARIABLES = ("SM_CURRENT_HOST", "SM_RESOURCE_CONFIG")


def host_name(index: int) -> str:
    """The host of the index-th pod of the job (the Job's completion index, from 0): algo-1, algo-2, ..."""
    return f"algo-{index + 1}"


def hosts(count: int) -> list[str]:
    """Every host, sorted lexicographically as SageMaker lists them (algo-10 before algo-2)."""
    return sorted(host_name(index) for index in range(count))


def input_data_config(document: dict) -> dict[str, dict[str, str]]:
    """inputdataconfig.json: per channel, what SageMaker tells the algorithm about it. FastFile is
    written as File, as SageMaker does."""
    config = {}
    for channel in document["channels"]:
        entry = {"TrainingInputMode": "File", "S3DistributionType": channel["distribution"],
                 "RecordWrapperType": channel.get("recordWrapperType") or "None"}
        if channel.get("contentType"):
            entry = {"ContentType": channel["contentType"], **entry}
        config[channel["name"]] = entry
    return config


def resource_config(document: dict, index: int) -> dict[str, Any]:
    return {"current_host": host_name(index), "hosts": hosts(document["instanceCount"]),
            "network_interface_name": document["networkInterfaceName"]}


def parsed_hyperparameters(hyperparameters: dict[str, str]) -> dict[str, Any]:
    """SM_HPS: each value parsed as JSON where it is JSON ("256" -> 256), else kept as the string."""
    parsed = {}
    for name, value in hyperparameters.items():
        try:
            parsed[name] = json.loads(value)
        except ValueError:
            parsed[name] = value
    return parsed


def environment_name(name: str) -> str:
    return name.upper()


def static_environment(document: dict, cpus: int, gpus: int) -> dict[str, str]:
    """The SM_* variables every host of the job shares (PER_HOST_VARIABLES come from the env file)."""
    channels = sorted(channel["name"] for channel in document["channels"])
    hyperparameters = document["hyperParameters"]
    environment = {
        "TRAINING_JOB_NAME": document["name"],
        "SM_MODEL_DIR": MODEL_DIR,
        "SM_INPUT_DIR": INPUT_DIR,
        "SM_INPUT_CONFIG_DIR": CONFIG_DIR,
        "SM_OUTPUT_DIR": OUTPUT_DIR,
        "SM_OUTPUT_DATA_DIR": OUTPUT_DATA_DIR,
        "SM_CHANNELS": json.dumps(channels),
        **{f"SM_CHANNEL_{environment_name(name)}": f"{DATA_DIR}/{name}" for name in channels},
        "SM_HPS": json.dumps(parsed_hyperparameters(hyperparameters)),
        **{f"SM_HP_{environment_name(name)}": value for name, value in hyperparameters.items() if "=" not in name},
        "SM_HOSTS": json.dumps(hosts(document["instanceCount"])),
        "SM_NUM_CPUS": str(cpus),
        "SM_NUM_GPUS": str(gpus),
        "SM_NETWORK_INTERFACE_NAME": document["networkInterfaceName"],
        "SM_INPUT_DATA_CONFIG": json.dumps(input_data_config(document)),
    }
    return environment


def host_environment(document: dict, index: int) -> dict[str, str]:
    return {"SM_CURRENT_HOST": host_name(index), "SM_RESOURCE_CONFIG": json.dumps(resource_config(document, index))}


def output_prefix(s3_output_path: str, name: str) -> str:
    """Where SageMaker writes a job's output: <s3OutputPath>/<job name>/output."""
    return f"{s3_output_path.rstrip('/')}/{name}/output"


def model_artifacts(s3_output_path: str, name: str, compression: str | None) -> str:
    """modelArtifacts.s3ModelArtifacts: the archive, or with compressionType NONE the model's folder."""
    if compression == "NONE":
        return f"{output_prefix(s3_output_path, name)}/model/"
    return f"{output_prefix(s3_output_path, name)}/{MODEL_ARCHIVE}"


def failure_reason(message: str, prefix: str = "AlgorithmError") -> str:
    """FailureReason in SageMaker's form, e.g. "AlgorithmError: <the failure file>"."""
    return f"{prefix}: {message.strip()[:FAILURE_REASON_LENGTH]}"
