"""The model registry: model package groups and model packages (versions in a group, or unversioned).

A group goes InProgress -> Completed on the clock. A version is numbered in its group in creation
order (numbers are never reused), starts PendingManualApproval unless the request says otherwise,
and goes Pending -> InProgress -> Completed on the clock; its approval and approval description
change with UpdateModelPackage. A version carries its group's tags and takes none of its own. A
ClientToken makes CreateModelPackage idempotent. A group is deleted only once it holds no version.
CreateModel takes a container by ModelPackageName only if that package exists, is Completed and,
for a version, Approved.
"""

from __future__ import annotations

import copy
from typing import Any

from kubemaker_emulator.errors import AwsError, validation_error
from kubemaker_emulator.sagemaker.base import Region, Resource, operation, page, time_window_filter


def groups(region: Region) -> dict[str, ModelPackageGroup]:
    return region.model_package_groups


def packages(region: Region) -> dict[str, ModelPackage]:
    """Every model package by ARN."""
    return region.model_packages


class ModelPackageGroup(Resource):
    def __init__(self, region: Region, request: dict[str, Any], now: float):
        name = request["ModelPackageGroupName"]
        super().__init__(region, name, region.arn("model-package-group", name), request.get("Tags"), now)
        self.description = request.get("ModelPackageGroupDescription")
        self.managed = request.get("ManagedConfiguration")
        self.status = "InProgress"
        self.last_version = 0
        self.timer = region.world.timer()
        self.timer.arm(now + region.timings["model_package_group_creating"], self._completed)

    def _completed(self, at: float) -> None:
        self.status = "Completed"

    def describe(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "ModelPackageGroupName": self.name,
            "ModelPackageGroupArn": self.arn,
            "CreationTime": self.creation_time,
            "CreatedBy": {},
            "ModelPackageGroupStatus": self.status,
        }
        if self.description is not None:
            answer["ModelPackageGroupDescription"] = self.description
        if self.managed is not None:
            answer["ManagedConfiguration"] = self.managed
        return answer

    def summary(self) -> dict[str, Any]:
        answer = {key: value for key, value in self.describe().items()
                  if key in ("ModelPackageGroupName", "ModelPackageGroupArn", "ModelPackageGroupDescription",
                             "CreationTime", "ModelPackageGroupStatus")}
        return answer


class ModelPackage(Resource):
    """A version in a group (`group` set) or an unversioned model package."""

    def __init__(self, region: Region, request: dict[str, Any], group: ModelPackageGroup | None, now: float):
        self.group = group
        if group is not None:
            group.last_version += 1
            self.version: int | None = group.last_version
            self.package_name = group.name
            arn = f"{region.arn('model-package', group.name)}/{self.version}"
            # Unique among versions of one group, for paging.
            name = f"{group.name}/{self.version:09d}"
        else:
            self.version = None
            self.package_name = request["ModelPackageName"]
            arn = region.arn("model-package", self.package_name)
            name = self.package_name
        super().__init__(region, name, arn, None if group else request.get("Tags"), now)
        self.described = copy.deepcopy(request)
        for member in ("Tags", "ClientToken", "ModelPackageName", "ModelPackageGroupName"):
            self.described.pop(member, None)
        if group is not None:
            self.described.setdefault("ModelApprovalStatus", "PendingManualApproval")
        self.client_token = request.get("ClientToken")
        self.status = "Pending"
        self.timer = region.world.timer()
        self.timer.arm(now + region.timings["model_package_pending"], self._in_progress)

    def _in_progress(self, at: float) -> None:
        self.status, self.last_modified = "InProgress", at
        self.timer.arm(at + self.region.timings["model_package_in_progress"], self._completed)

    def _completed(self, at: float) -> None:
        self.status, self.last_modified = "Completed", at

    def describe(self) -> dict[str, Any]:
        answer = {
            **self.described,
            "ModelPackageName": self.package_name,
            "ModelPackageArn": self.arn,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified,
            "ModelPackageStatus": self.status,
            "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
            "CreatedBy": {},
        }
        if self.group is not None:
            answer.update(ModelPackageGroupName=self.group.name, ModelPackageVersion=self.version)
        return answer

    def summary(self) -> dict[str, Any]:
        described = self.describe()
        members = ("ModelPackageName", "ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn",
                   "ModelPackageDescription", "CreationTime", "ModelPackageStatus", "ModelApprovalStatus")
        return {member: described[member] for member in members if member in described}


def group_named(region: Region, name_or_arn: str) -> ModelPackageGroup:
    name = name_or_arn.rsplit("/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn
    group = groups(region).get(name)
    if group is None or (name_or_arn.startswith("arn:") and group.arn != name_or_arn.lower()):
        raise validation_error(f"ModelPackageGroup {name_or_arn} does not exist.")
    return group


def package_named(region: Region, name_or_arn: str) -> ModelPackage:
    if name_or_arn.startswith("arn:"):
        found = packages(region).get(name_or_arn.lower())
    else:
        found = packages(region).get(region.arn("model-package", name_or_arn))
    if found is None:
        raise validation_error(f"ModelPackage {name_or_arn} does not exist.")
    return found


@operation("CreateModelPackageGroup")
def create_model_package_group(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    name = params["ModelPackageGroupName"]
    if name in groups(region):
        raise validation_error(f'Cannot create already existing model package group "{groups(region)[name].arn}".')
    group = ModelPackageGroup(region, params, region.now())
    groups(region)[name] = group
    group.register()
    return {"ModelPackageGroupArn": group.arn}


@operation("DescribeModelPackageGroup")
def describe_model_package_group(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    return group_named(region, params["ModelPackageGroupName"]).describe()


@operation("DeleteModelPackageGroup")
def delete_model_package_group(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    group = group_named(region, params["ModelPackageGroupName"])
    if any(package.group is group for package in packages(region).values()):
        raise AwsError("ConflictException", f"Model package group {group.arn} cannot be deleted while it "
                       "contains model packages; delete them first.")
    group.timer.cancel()
    del groups(region)[group.name]
    group.unregister()
    return {}


@operation("ListModelPackageGroups")
def list_model_package_groups(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    in_window = time_window_filter(params, "CreationTime", None)
    name_part = (params.get("NameContains") or "").lower()
    matches = (g for g in groups(region).values() if name_part in g.name.lower() and in_window(g))
    found, token = page(matches, params, {"Name": lambda g: g.name, "CreationTime": lambda g: g.creation_time},
                        default_sort="CreationTime", default_order="Ascending")
    answer: dict[str, Any] = {"ModelPackageGroupSummaryList": [g.summary() for g in found]}
    if token:
        answer["NextToken"] = token
    return answer


@operation("CreateModelPackage")
def create_model_package(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    token = params.get("ClientToken")
    if token:
        for existing in packages(region).values():
            if existing.client_token == token:
                return {"ModelPackageArn": existing.arn}
    group_name, name = params.get("ModelPackageGroupName"), params.get("ModelPackageName")
    if bool(group_name) == bool(name):
        raise validation_error("Exactly one of ModelPackageName and ModelPackageGroupName must be specified.")
    if not params.get("InferenceSpecification") and not params.get("SourceAlgorithmSpecification"):
        raise validation_error("Either InferenceSpecification or SourceAlgorithmSpecification must be specified.")
    group = None
    if group_name:
        group = group_named(region, group_name)
        if params.get("Tags"):
            raise validation_error("Tags cannot be specified for a versioned model package: it uses the tags of "
                                   "its model package group.")
    else:
        if params.get("ModelApprovalStatus"):
            raise validation_error("ModelApprovalStatus applies only to versioned model packages.")
        if region.arn("model-package", name) in packages(region):
            arn = region.arn("model-package", name)
            raise validation_error(f'Cannot create already existing model package "{arn}".')
    package = ModelPackage(region, params, group, region.now())
    packages(region)[package.arn] = package
    if group is None:
        package.register()
    return {"ModelPackageArn": package.arn}


@operation("DescribeModelPackage")
def describe_model_package(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    return package_named(region, params["ModelPackageName"]).describe()


UPDATABLE = ("ModelApprovalStatus", "ApprovalDescription", "CustomerMetadataProperties", "InferenceSpecification",
             "SourceUri", "ModelCard", "ModelLifeCycle", "ModelPackageRegistrationType")


@operation("UpdateModelPackage")
def update_model_package(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    package = package_named(region, params["ModelPackageArn"])
    if package.group is None and ("ModelApprovalStatus" in params or "ApprovalDescription" in params):
        raise validation_error("ModelApprovalStatus applies only to versioned model packages.")
    for member in UPDATABLE:
        if member in params:
            package.described[member] = copy.deepcopy(params[member])
    properties = package.described.setdefault("CustomerMetadataProperties", {})
    for key in params.get("CustomerMetadataPropertiesToRemove") or []:
        properties.pop(key, None)
    if not properties:
        package.described.pop("CustomerMetadataProperties")
    package.last_modified = region.now()
    return {"ModelPackageArn": package.arn}


@operation("DeleteModelPackage")
def delete_model_package(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    package = package_named(region, params["ModelPackageName"])
    package.timer.cancel()
    del packages(region)[package.arn]
    package.unregister()
    return {}


@operation("ListModelPackages")
def list_model_packages(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    in_window = time_window_filter(params, "CreationTime", None)
    name_part = (params.get("NameContains") or "").lower()
    group_name = params.get("ModelPackageGroupName")
    group = group_named(region, group_name) if group_name else None
    kind = params.get("ModelPackageType") or ("Versioned" if group else "Unversioned")
    approval = params.get("ModelApprovalStatus")

    def listed(package: ModelPackage) -> bool:
        if group is not None and package.group is not group:
            return False
        if kind != "Both" and (package.group is not None) != (kind == "Versioned"):
            return False
        if approval and package.described.get("ModelApprovalStatus") != approval:
            return False
        return name_part in package.package_name.lower() and in_window(package)

    found, token = page((p for p in packages(region).values() if listed(p)), params,
                        {"Name": lambda p: p.name, "CreationTime": lambda p: p.creation_time},
                        default_sort="CreationTime", default_order="Ascending")
    answer: dict[str, Any] = {"ModelPackageSummaryList": [p.summary() for p in found]}
    if token:
        answer["NextToken"] = token
    return answer


def require_deployable(region: Region, container: dict[str, Any]) -> None:
    """CreateModel's check of a container that names a model package."""
    name = container.get("ModelPackageName")
    if not name:
        return
    package = package_named(region, name)
    if package.status != "Completed":
        raise validation_error(f"Model package {package.arn} is {package.status}; it must be Completed to be used.")
    approval = package.described.get("ModelApprovalStatus")
    if package.group is not None and approval != "Approved":
        raise validation_error(f"Model package {package.arn} has ModelApprovalStatus {approval}; only an Approved "
                               "version can be deployed.")
