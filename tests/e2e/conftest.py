from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.e2e.chart import LogScan, ServiceAccountLogin, install_rbac, service_account_kubeconfig


@pytest.fixture(scope="session")
def crds(kubectl) -> list[str]:
    """Installs every CRD in crds/ (server-side, as the chart and the demo do) and waits until the
    API server serves them."""
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / "crds"))
    names = kubectl("get", "-f", str(REPO_ROOT / "crds"), "-o", "name").stdout.split()
    kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)
    return [name.split("/", 1)[1] for name in names]


# Distinctive credentials, so a test can prove they never reach logs, Events or status.
OPERATOR_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIAKUBEMAKERE2ETEST",
    "AWS_SECRET_ACCESS_KEY": "kubemaker-e2e-secret-" + __import__("secrets").token_hex(8),
}
TEST_ROLE_PATTERN = "arn:aws:iam::123456789012:role/SageMaker*"
# A namespace whose SageMaker objects live in another account, through an assumed role.
TEAM_ACCOUNT_NAMESPACE = "team-other-account"
TEAM_ACCOUNT_ROLE = "arn:aws:iam::111111111111:role/kubemaker-team"
# Tests name models they made with the emulator's client (no ownership tags): allowed explicitly.
OUTSIDE_MODELS = "arn:aws:sagemaker:*:*:model/*"
# test_tenants.py: two teams in one account, each with its own roles and nothing of the other's.
# Objects in the China and GovCloud (US) partitions: their roles' ARNs are in those partitions.
PARTITIONS_NAMESPACE = "other-partitions"
PARTITION_ROLE_PATTERNS = ["arn:aws-cn:iam::123456789012:role/SageMaker*",
                           "arn:aws-us-gov:iam::123456789012:role/SageMaker*"]
TENANT_A, TENANT_B = "tenant-a", "tenant-b"
TENANT_ROLES = {TENANT_A: "arn:aws:iam::123456789012:role/SageMakerTenantA",
                TENANT_B: "arn:aws:iam::123456789012:role/SageMakerTenantB"}
# The only SageMaker objects tenant B may use by name without owning them.
TENANT_B_SHARED_MODELS = "arn:aws:sagemaker:*:*:model/tenant-b-shared-*"


# A release of its own, so an existing cluster (E2E_KUBECONFIG) may also hold a real install.
OPERATOR_RELEASE = "kubemaker-e2e"


@pytest.fixture(scope="session")
def operator_account(kubectl, helm, tmp_path_factory) -> ServiceAccountLogin:
    """The chart's RBAC of a cluster-wide install, applied with admin, and a kubeconfig of its
    ServiceAccount: the operator holds only what the chart grants, so a missing rule fails the suite."""
    account = install_rbac(kubectl, helm, {"fullnameOverride": OPERATOR_RELEASE}, namespace=OPERATOR_RELEASE)
    kubeconfig = tmp_path_factory.mktemp("operator-account") / "kubeconfig"
    return service_account_kubeconfig(kubectl, account, OPERATOR_RELEASE, kubeconfig)


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory) -> Path:
    """The bin directory of a virtualenv holding the wheel built from this tree and only its base
    dependencies: the e2e suite drives the artifact users install, not the editable dev install."""
    from kubemaker_dev.wheel import WheelError, build_wheel, install_wheel

    try:
        return install_wheel(build_wheel(tmp_path_factory.mktemp("wheel")))
    except WheelError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def operator(operator_account, emulator, crds, installed_wheel, tmp_path_factory):
    """`kubemaker run` from the installed wheel, as a child process against the test cluster, as the
    chart's ServiceAccount, and the emulator. The default namespace policy allows only SageMaker*
    roles, so tests can show a refused role."""
    import yaml

    from kubemaker_dev.operatorprocess import OperatorProcess

    workdir = tmp_path_factory.mktemp("operator")
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump({
        "strictStatus": True,
        "resyncIntervalSeconds": 10,  # drift tests wait for the slow look
        # One operator, which test_faults SIGKILLs and restarts at once and whose API server it restarts:
        # with a Lease each restart would stand by for the lease duration, and a leader cut off for
        # more than the renew deadline exits, as it must, with nobody to restart it. Elections, under
        # the chart's lease RBAC, are test_leader_election.py's.
        "leaderElection": {"enabled": False},
        "defaultNamespacePolicy": {"allowedRoleArns": [TEST_ROLE_PATTERN], "allowedSageMakerReferences": [OUTSIDE_MODELS]},
        "namespacePolicies": {
            TEAM_ACCOUNT_NAMESPACE: {"allowedRoleArns": ["arn:aws:iam::111111111111:role/*"],
                                     "assumeRoleArn": TEAM_ACCOUNT_ROLE},
            PARTITIONS_NAMESPACE: {"allowedRoleArns": PARTITION_ROLE_PATTERNS},
            TENANT_A: {"allowedRoleArns": [TENANT_ROLES[TENANT_A]], "allowAdoption": True},
            TENANT_B: {"allowedRoleArns": [TENANT_ROLES[TENANT_B]], "allowAdoption": True,
                       "allowedSageMakerReferences": [TENANT_B_SHARED_MODELS]},
        },
    }))
    process = OperatorProcess(
        {**emulator.aws_environment(), **OPERATOR_CREDENTIALS, "KUBECONFIG": str(operator_account.kubeconfig)},
        workdir / "operator.log", config_path, poll_interval=0.5, entry_point=(str(installed_wheel / "kubemaker"),),
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def operator_log_scan(operator) -> LogScan:
    return LogScan(operator.log_path)


@pytest.fixture(autouse=True)
def operator_was_not_refused(request):
    """After each test that drives the operator: the chart's RBAC was enough for what it made the
    operator do (its part of the operator's log, and the operator's startup for the first one)."""
    scan = request.getfixturevalue("operator_log_scan") if "operator" in request.fixturenames else None
    yield
    if scan is None:
        return
    complaints = scan.new_complaints()
    # A restarting API server answers 403 until its RBAC cache has synced: retried, not a missing rule.
    if not request.node.get_closest_marker("restarts_apiserver"):
        assert not complaints, "the chart's RBAC lacks something the operator uses:\n" + "\n".join(complaints[:10])
