"""Pipelines and their executions.

An execution runs the steps of the definition it started with: a step waits for the steps named
in its DependsOn and for the steps whose properties it reads (`{"Get": "Steps.<name>..."}`); when
no step of the definition declares either, steps run one after another in list order, so the
progression is easy to follow. Each step goes Starting -> Executing -> Succeeded. Condition steps
take their IfSteps branch; Fail steps fail with their ErrorMessage; a step failure injected through
the control API fails that step and then the execution, once its running steps have finished.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any, Iterator

from kubemaker_emulator.errors import resource_not_found, validation_error
from kubemaker_emulator.sagemaker.base import Region, Resource, offset_page, operation, page, short_hex, time_window_filter

DEFAULT_MAX_PARALLEL_STEPS = 50
EXECUTION_FAILURE = "Step failure: One or multiple steps failed."
# Step type -> the PipelineExecutionStepMetadata member naming the job the step ran.
JOB_METADATA = {
    "Training": ("TrainingJob", "training-job"),
    "Processing": ("ProcessingJob", "processing-job"),
    "Transform": ("TransformJob", "transform-job"),
    "Tuning": ("TuningJob", "hyper-parameter-tuning-job"),
    "Model": ("Model", "model"),
    "RegisterModel": ("RegisterModel", "model-package"),
}


def parse_definition(text: str) -> dict[str, Any]:
    try:
        definition = json.loads(text)
    except ValueError as error:
        raise validation_error(f"Invalid pipeline definition: not valid JSON ({error.msg}).") from None
    except RecursionError:
        raise validation_error("Invalid pipeline definition: JSON nested too deeply.") from None
    if not isinstance(definition, dict) or not isinstance(definition.get("Steps"), list):
        raise validation_error("Invalid pipeline definition: it must be a JSON object with a Steps list.")
    names: set[str] = set()
    for step in _all_steps(definition["Steps"]):
        if not isinstance(step, dict) or not step.get("Name") or not step.get("Type"):
            raise validation_error("Invalid pipeline definition: every step needs a Name and a Type.")
        if step["Name"] in names:
            raise validation_error(f"Invalid pipeline definition: step name {step['Name']} is used twice.")
        names.add(step["Name"])
    for step in _all_steps(definition["Steps"]):
        for dependency in step.get("DependsOn", []):
            if dependency not in names:
                raise validation_error(
                    f"Invalid pipeline definition: step {step['Name']} depends on unknown step {dependency}."
                )
    return definition


def _all_steps(steps: list[Any]) -> Iterator[Any]:
    for step in steps:
        yield step
        if isinstance(step, dict) and step.get("Type") == "Condition":
            arguments = step.get("Arguments", {})
            yield from _all_steps(arguments.get("IfSteps", []))
            yield from _all_steps(arguments.get("ElseSteps", []))


def _referenced_steps(value: Any) -> Iterator[str]:
    """Names of the steps whose properties a step's arguments read."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _referenced_steps(item)
    elif isinstance(value, list):
        for item in value:
            yield from _referenced_steps(item)
    elif isinstance(value, str) and value.startswith("Steps."):
        yield value.split(".")[1]


def plan_steps(definition: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, set[str]]]:
    """The steps an execution will run (Condition steps take their IfSteps branch) and what each waits for."""
    steps: list[dict[str, Any]] = []
    waits: dict[str, set[str]] = {}

    def add(step: dict[str, Any], condition: str | None) -> None:
        steps.append(step)
        waits[step["Name"]] = set(step.get("DependsOn", [])) | set(_referenced_steps(step.get("Arguments", {})))
        if condition is not None:
            waits[step["Name"]].add(condition)
        if step["Type"] == "Condition":
            for branch_step in step.get("Arguments", {}).get("IfSteps", []):
                add(branch_step, step["Name"])

    for step in definition["Steps"]:
        add(step, None)
    known = {step["Name"] for step in steps}
    for name in waits:
        waits[name] &= known
    if not any(waits.values()):
        for previous, step in zip(steps, steps[1:]):
            waits[step["Name"]] = {previous["Name"]}
    return steps, waits


class Pipeline(Resource):
    def __init__(self, region: Region, request: dict[str, Any], definition: str, now: float):
        name = request["PipelineName"]
        super().__init__(region, name, region.arn("pipeline", name), request.get("Tags"), now)
        self.definition = definition
        self.display_name = request.get("PipelineDisplayName") or name
        self.description = request.get("PipelineDescription")
        self.role_arn = request["RoleArn"]
        self.parallelism = request.get("ParallelismConfiguration")
        self.version_aliases = request.get("PipelineVersionAliases")
        self.client_token = request["ClientRequestToken"]
        self.version = 1
        self.last_run_time: float | None = None
        self.execution_tokens: dict[str, str] = {}

    def describe(self) -> dict[str, Any]:
        return {
            "PipelineArn": self.arn,
            "PipelineName": self.name,
            "PipelineDisplayName": self.display_name,
            "PipelineDefinition": self.definition,
            "PipelineDescription": self.description,
            "RoleArn": self.role_arn,
            "PipelineStatus": "Active",
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified,
            "LastRunTime": self.last_run_time,
            "CreatedBy": {},
            "LastModifiedBy": {},
            "ParallelismConfiguration": self.parallelism,
            "PipelineVersionAliases": self.version_aliases,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "PipelineArn": self.arn,
            "PipelineName": self.name,
            "PipelineDisplayName": self.display_name,
            "PipelineDescription": self.description,
            "RoleArn": self.role_arn,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified,
            "LastExecutionTime": self.last_run_time,
        }


class StepRun:
    def __init__(self, step: dict[str, Any], t: float):
        self.step = step
        self.name: str = step["Name"]
        self.status = "Starting"
        self.start_time = t
        self.end_time: float | None = None
        self.due: float | None = None
        self.failure_reason: str | None = None
        self.metadata: dict[str, Any] = {}

    @property
    def running(self) -> bool:
        return self.status in ("Starting", "Executing", "Stopping")

    def describe(self) -> dict[str, Any]:
        return {
            "StepName": self.name,
            "StepDisplayName": self.step.get("DisplayName"),
            "StepDescription": self.step.get("Description"),
            "StartTime": self.start_time,
            "EndTime": self.end_time,
            "StepStatus": self.status,
            "FailureReason": self.failure_reason,
            "Metadata": self.metadata,
            "AttemptCount": 1,
        }


class PipelineExecution(Resource):
    def __init__(self, region: Region, pipeline: Pipeline, request: dict[str, Any], now: float):
        execution_id = uuid.uuid4().hex[:12]
        super().__init__(region, execution_id, f"{pipeline.arn}/execution/{execution_id}", None, now)
        self.pipeline_name = pipeline.name
        self.pipeline_arn = pipeline.arn
        self.pipeline_version = request.get("PipelineVersionId") or pipeline.version
        self.role_arn = request.get("RoleArn") or pipeline.role_arn
        self.definition_text = pipeline.definition
        self.display_name = request.get("PipelineExecutionDisplayName") or f"execution-{int(now * 1000)}"
        self.description = request.get("PipelineExecutionDescription")
        self.parameters = request.get("PipelineParameters", [])
        self.parallelism = request.get("ParallelismConfiguration") or pipeline.parallelism
        self.selective = request.get("SelectiveExecutionConfig")
        self.status = "Executing"
        self.failure_reason: str | None = None
        self.steps, self.waits = plan_steps(parse_definition(self.definition_text))
        self.runs: dict[str, StepRun] = {}
        self.timer = region.world.timer()
        self._advance(now)

    @property
    def max_parallel(self) -> int:
        return (self.parallelism or {}).get("MaxParallelExecutionSteps", DEFAULT_MAX_PARALLEL_STEPS)

    def will_run(self, step_name: str) -> bool:
        run = self.runs.get(step_name)
        planned = any(step["Name"] == step_name for step in self.steps)
        return self.status == "Executing" and planned and (run is None or run.running)

    def _timing(self, phase: str) -> float:
        return self.region.timings[f"pipeline_step_{phase}"]

    def _advance(self, t: float) -> None:
        """Moves due steps on, starts the steps now ready, and settles the execution."""
        for run in self.runs.values():
            if run.due is not None and run.due <= t:
                self._step_due(run, t)
        if self.status == "Executing" and not any(run.status == "Failed" for run in self.runs.values()):
            running = sum(1 for run in self.runs.values() if run.running)
            for step in self.steps:
                if running >= self.max_parallel:
                    break
                name = step["Name"]
                if name not in self.runs and all(
                    self.runs.get(wait) is not None and self.runs[wait].status == "Succeeded" for wait in self.waits[name]
                ):
                    run = StepRun(step, t)
                    run.due = t + self._timing("starting")
                    self.runs[name] = run
                    self.last_modified = t
                    running += 1
        if not any(run.running for run in self.runs.values()):
            self._settle(t)
        dues = [run.due for run in self.runs.values() if run.due is not None]
        if dues:
            self.timer.arm(min(dues), self._advance)
        else:
            self.timer.cancel()

    def _step_due(self, run: StepRun, t: float) -> None:
        self.last_modified = t
        if run.status == "Starting":
            run.status = "Executing"
            run.due = t + self._timing("executing")
            return
        run.due = None
        run.end_time = t
        if run.status == "Stopping":
            run.status = "Stopped"
            return
        injected = self.region.world.armed.pipeline_step_failures.get((self.pipeline_name, run.name))
        if injected is not None:
            run.status, run.failure_reason = "Failed", injected
        elif run.step["Type"] == "Fail":
            message = str(run.step.get("Arguments", {}).get("ErrorMessage", "Fail step reached"))
            run.status, run.failure_reason = "Failed", message
            run.metadata = {"Fail": {"ErrorMessage": message}}
        else:
            run.status = "Succeeded"
            run.metadata = self._metadata(run)

    def _metadata(self, run: StepRun) -> dict[str, Any]:
        kind = run.step["Type"]
        if kind in JOB_METADATA:
            member, resource_kind = JOB_METADATA[kind]
            job_name = f"pipelines-{self.name}-{run.name}"[:54] + "-" + short_hex(self.arn, run.name)
            return {member: {"Arn": self.region.arn(resource_kind, job_name)}}
        if kind == "Condition":
            return {"Condition": {"Outcome": "True"}}
        if kind == "Lambda":
            return {"Lambda": {"Arn": run.step.get("FunctionArn", ""), "OutputParameters": []}}
        return {}

    def _settle(self, t: float) -> None:
        if self.status == "Stopping":
            self.status = "Stopped"
        elif self.status == "Executing":
            if any(run.status == "Failed" for run in self.runs.values()):
                self.status, self.failure_reason = "Failed", EXECUTION_FAILURE
            else:
                self.status = "Succeeded"
        self.last_modified = t

    def stop(self, t: float) -> None:
        if self.status != "Executing":
            raise validation_error(f"Pipeline execution {self.arn} is {self.status} and cannot be stopped.")
        self.status = "Stopping"
        self.last_modified = t
        for run in self.runs.values():
            if run.running:
                run.status = "Stopping"
                run.due = t + self.region.timings["pipeline_stopping"]
        self._advance(t)

    def describe(self) -> dict[str, Any]:
        return {
            "PipelineArn": self.pipeline_arn,
            "PipelineExecutionArn": self.arn,
            "PipelineExecutionDisplayName": self.display_name,
            "PipelineExecutionStatus": self.status,
            "PipelineExecutionDescription": self.description,
            "PipelineExperimentConfig": {"ExperimentName": self.pipeline_name, "TrialName": self.name},
            "FailureReason": self.failure_reason,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified,
            "CreatedBy": {},
            "LastModifiedBy": {},
            "ParallelismConfiguration": self.parallelism,
            "SelectiveExecutionConfig": self.selective,
            "PipelineVersionId": self.pipeline_version,
            "RoleArn": self.role_arn,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "PipelineExecutionArn": self.arn,
            "StartTime": self.creation_time,
            "PipelineExecutionStatus": self.status,
            "PipelineExecutionDescription": self.description,
            "PipelineExecutionDisplayName": self.display_name,
            "PipelineExecutionFailureReason": self.failure_reason,
        }


def pipeline_not_found(region: Region, name: str) -> Exception:
    return resource_not_found(f"Pipeline '{region.arn('pipeline', name)}' does not exist.")


def find_pipeline(region: Region, name_or_arn: str) -> Pipeline:
    name = name_or_arn.rsplit("/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn
    pipeline = region.pipelines.get(name)
    if pipeline is None:
        # ARNs carry lower-cased names.
        pipeline = next((p for p in region.pipelines.values() if p.arn == name_or_arn), None)
    if pipeline is None:
        raise pipeline_not_found(region, name)
    return pipeline


def find_execution(region: Region, arn: str) -> PipelineExecution:
    execution = region.pipeline_executions.get(arn)
    if execution is None:
        raise resource_not_found(f"Pipeline execution '{arn}' does not exist.")
    return execution


def definition_from(region: Region, params: dict[str, Any]) -> str | None:
    if params.get("PipelineDefinition") is not None:
        text = params["PipelineDefinition"]
    elif params.get("PipelineDefinitionS3Location") is not None:
        location = params["PipelineDefinitionS3Location"]
        stored = region.world.services.read_object(region.name, location["Bucket"], location["ObjectKey"])
        if stored is None:
            raise validation_error(
                f"Could not read the pipeline definition from s3://{location['Bucket']}/{location['ObjectKey']}."
            )
        text = stored.decode()
    else:
        return None
    parse_definition(text)
    return text


@operation("CreatePipeline")
def create_pipeline(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    name = params["PipelineName"]
    existing = region.pipelines.get(name)
    if existing is not None:
        if existing.client_token == params["ClientRequestToken"]:
            return {"PipelineArn": existing.arn}
        raise validation_error(
            f"Pipeline names must be unique within an AWS account and region. Pipeline with name ({name}) already exists."
        )
    definition = definition_from(region, params)
    if definition is None:
        raise validation_error("Either PipelineDefinition or PipelineDefinitionS3Location must be specified.")
    pipeline = Pipeline(region, params, definition, region.now())
    region.pipelines[name] = pipeline
    pipeline.register()
    return {"PipelineArn": pipeline.arn}


@operation("DescribePipeline")
def describe_pipeline(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    return find_pipeline(region, params["PipelineName"]).describe()


@operation("UpdatePipeline")
def update_pipeline(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    pipeline = find_pipeline(region, params["PipelineName"])
    definition = definition_from(region, params)
    if definition is not None:
        pipeline.definition = definition
    if "PipelineDisplayName" in params:
        pipeline.display_name = params["PipelineDisplayName"]
    if "PipelineDescription" in params:
        pipeline.description = params["PipelineDescription"]
    if "RoleArn" in params:
        pipeline.role_arn = params["RoleArn"]
    if "ParallelismConfiguration" in params:
        pipeline.parallelism = params["ParallelismConfiguration"]
    pipeline.version += 1
    pipeline.last_modified = region.now()
    return {"PipelineArn": pipeline.arn, "PipelineVersionId": pipeline.version}


@operation("DeletePipeline")
def delete_pipeline(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    pipeline = find_pipeline(region, params["PipelineName"])
    del region.pipelines[pipeline.name]
    pipeline.unregister()
    return {"PipelineArn": pipeline.arn}


@operation("ListPipelines")
def list_pipelines(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    in_window = time_window_filter({**params, "CreationTimeAfter": params.get("CreatedAfter"),
                                    "CreationTimeBefore": params.get("CreatedBefore")}, "CreationTime", None)  # fmt: skip
    prefix = params.get("PipelineNamePrefix") or ""
    matches = (p for p in region.pipelines.values() if p.name.startswith(prefix) and in_window(p))
    pipelines, token = page(
        matches,
        params,
        {"Name": lambda p: p.name, "CreationTime": lambda p: p.creation_time},
        default_sort="CreationTime",
        default_order="Descending",
    )
    answer: dict[str, Any] = {"PipelineSummaries": [p.summary() for p in pipelines]}
    if token:
        answer["NextToken"] = token
    return answer


@operation("StartPipelineExecution")
def start_pipeline_execution(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    pipeline = find_pipeline(region, params["PipelineName"])
    token = params["ClientRequestToken"]
    if token in pipeline.execution_tokens:
        return {"PipelineExecutionArn": pipeline.execution_tokens[token]}
    now = region.now()
    execution = PipelineExecution(region, pipeline, params, now)
    region.pipeline_executions[execution.arn] = execution
    execution.register()
    pipeline.execution_tokens[token] = execution.arn
    pipeline.last_run_time = now
    return {"PipelineExecutionArn": execution.arn}


@operation("DescribePipelineExecution")
def describe_pipeline_execution(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    return find_execution(region, params["PipelineExecutionArn"]).describe()


@operation("DescribePipelineDefinitionForExecution")
def describe_pipeline_definition_for_execution(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    execution = find_execution(region, params["PipelineExecutionArn"])
    return {"PipelineDefinition": execution.definition_text, "CreationTime": execution.creation_time}


@operation("StopPipelineExecution")
def stop_pipeline_execution(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    execution = find_execution(region, params["PipelineExecutionArn"])
    execution.stop(region.now())
    return {"PipelineExecutionArn": execution.arn}


@operation("UpdatePipelineExecution")
def update_pipeline_execution(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    execution = find_execution(region, params["PipelineExecutionArn"])
    if "PipelineExecutionDescription" in params:
        execution.description = params["PipelineExecutionDescription"]
    if "PipelineExecutionDisplayName" in params:
        execution.display_name = params["PipelineExecutionDisplayName"]
    if "ParallelismConfiguration" in params:
        execution.parallelism = params["ParallelismConfiguration"]
    execution.last_modified = region.now()
    return {"PipelineExecutionArn": execution.arn}


@operation("ListPipelineExecutions")
def list_pipeline_executions(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    pipeline = find_pipeline(region, params["PipelineName"])
    in_window = time_window_filter({**params, "CreationTimeAfter": params.get("CreatedAfter"),
                                    "CreationTimeBefore": params.get("CreatedBefore")}, "CreationTime", None)  # fmt: skip
    matches = (
        e for e in region.pipeline_executions.values() if e.pipeline_arn == pipeline.arn and in_window(e)
    )
    executions, token = page(
        matches,
        params,
        {"CreationTime": lambda e: e.creation_time, "PipelineExecutionArn": lambda e: e.arn},
        default_sort="CreationTime",
        default_order="Descending",
    )
    answer: dict[str, Any] = {"PipelineExecutionSummaries": [e.summary() for e in executions]}
    if token:
        answer["NextToken"] = token
    return answer


@operation("ListPipelineExecutionSteps")
def list_pipeline_execution_steps(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    execution = find_execution(region, params["PipelineExecutionArn"])
    runs, token = page(
        execution.runs.values(),
        {**params, "SortBy": "StartTime"},
        {"StartTime": lambda run: run.start_time},
        default_sort="StartTime",
        default_order="Descending",
    )
    answer: dict[str, Any] = {"PipelineExecutionSteps": [copy.deepcopy(run.describe()) for run in runs]}
    if token:
        answer["NextToken"] = token
    return answer


@operation("ListPipelineParametersForExecution")
def list_pipeline_parameters_for_execution(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    execution = find_execution(region, params["PipelineExecutionArn"])
    parameters, token = offset_page(execution.parameters, params, execution.arn, default_max=50)
    answer: dict[str, Any] = {"PipelineParameters": copy.deepcopy(parameters)}
    if token:
        answer["NextToken"] = token
    return answer
