from __future__ import annotations

import pytest

from tests.conftest import REPO_ROOT


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


@pytest.fixture(scope="session")
def operator(kubeconfig, emulator, crds, tmp_path_factory):
    """`kubemaker run` as a child process against the test cluster and the emulator. The default
    namespace policy allows only SageMaker* roles, so tests can show a refused role."""
    import yaml

    from kubemaker.devenv.operatorprocess import OperatorProcess

    workdir = tmp_path_factory.mktemp("operator")
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump({
        "strictStatus": True,
        "resyncIntervalSeconds": 10,  # drift tests wait for the slow look
        "defaultNamespacePolicy": {"allowedRoleArns": [TEST_ROLE_PATTERN]},
        "namespacePolicies": {
            TEAM_ACCOUNT_NAMESPACE: {"allowedRoleArns": ["arn:aws:iam::111111111111:role/*"],
                                     "assumeRoleArn": TEAM_ACCOUNT_ROLE},
        },
    }))
    process = OperatorProcess(
        {**emulator.aws_environment(), **OPERATOR_CREDENTIALS, "KUBECONFIG": kubeconfig}, workdir / "operator.log",
        config_path, poll_interval=0.5,
    )
    process.start()
    yield process
    process.stop()
