"""No credential or token in the operator's logs, in Events or in any object's status, after the
whole session has exercised the operator (this test runs last)."""

from __future__ import annotations

import pytest
import yaml

from tests.e2e.conftest import OPERATOR_CREDENTIALS


@pytest.mark.after_everything
def test_no_secret_in_logs_events_or_status(operator, operator_account, kubectl, kubeconfig):
    tokens = [yaml.safe_load(open(config))["users"][0]["user"].get("token")
              for config in (kubeconfig, operator_account.kubeconfig)]
    secrets = [OPERATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"], OPERATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"], *tokens]
    places = {
        "operator log": operator.log_path.read_text(errors="replace"),
        "events": kubectl("get", "events", "-A", "-o", "json").stdout,
        # Status alone, printed by kubectl: specs left by the hostile-input tests nest deeper than
        # Python's JSON parser goes.
        "status": kubectl("get", "sagemaker", "-A", "-o", "jsonpath={range .items[*]}{.status}{'\\n'}{end}").stdout,
    }
    assert len(places["operator log"]) > 1000, "the scan needs a session that exercised the operator"
    for place, text in places.items():
        for secret in filter(None, secrets):
            assert secret not in text, f"a credential leaked into the {place}"
        for marker in ("SecretAccessKey", "SessionToken", "Authorization: Bearer"):
            assert marker not in text, f"{marker} appears in the {place}"


@pytest.mark.after_everything
def test_no_secret_in_a_verbose_log_of_an_assumed_role_namespace(operator, emulator, kubectl, tmp_path):
    """`--verbose` puts the root logger at DEBUG, where botocore would log request headers
    (Authorization, X-Amz-Security-Token) and AssumeRole's answer. The session's operator stands
    aside while a verbose one, watching only the assumed-role namespace, reconciles a TrainingJob and
    a Model there through freshly assumed credentials."""
    import re

    from kubemaker_dev.operatorprocess import OperatorProcess
    from tests.e2e.conftest import TEAM_ACCOUNT_NAMESPACE
    from tests.e2e.helpers import apply, condition, get, wait_for
    from tests.e2e.hosting import model
    from tests.e2e.test_trainingjob import training_job

    config = yaml.safe_load(operator.config_path.read_text())
    config["namespaces"] = [TEAM_ACCOUNT_NAMESPACE]
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    verbose = OperatorProcess(operator.env, tmp_path / "verbose.log", config_path, poll_interval=0.5,
                              entry_point=operator.entry_point, extra_args=("--verbose",))
    kubectl("create", "namespace", TEAM_ACCOUNT_NAMESPACE, check=False)
    assumed_before = emulator.control.call_counts()["calls"].get("sts", {}).get("AssumeRole", 0)
    operator.stop()
    try:
        verbose.start()
        role = "arn:aws:iam::111111111111:role/SageMakerTeam"
        apply(kubectl, {"apiVersion": "v1", "kind": "List", "items": [
            training_job("verbose-job", roleArn=role), model("verbose-model", executionRoleArn=role)]},
            TEAM_ACCOUNT_NAMESPACE)
        for kind, name in (("trainingjob", "verbose-job"), ("model", "verbose-model")):
            wait_for(lambda: condition(get(kubectl, kind, TEAM_ACCOUNT_NAMESPACE, name), "Ready").get("status") == "True",
                     timeout=90, what=lambda: get(kubectl, kind, TEAM_ACCOUNT_NAMESPACE, name))
    finally:
        verbose.stop()
        operator.start()
    assert emulator.control.call_counts()["calls"]["sts"]["AssumeRole"] > assumed_before
    text = verbose.log_path.read_text(errors="replace")
    # kopf's debug lines show the log is verbose, and both objects' work is in it.
    assert "Handler 'trainingjobs-observe' is invoked" in text and "Handler 'models-observe' is invoked" in text, (
        "the scan needs a verbose log of real work")
    for secret in OPERATOR_CREDENTIALS.values():
        assert secret not in text, "a static credential leaked into the verbose log"
    # The emulator's session tokens start like AWS's; assumed access key ids start with ASIA.
    for marker in ("SecretAccessKey", "SessionToken", "X-Amz-Security-Token", "Authorization", "FQoGZXIvYXdzE",
                   "aws_secret_access_key", "Credential="):
        assert marker not in text, f"{marker} appears in the verbose log"
    assert not re.search(r"ASIA[0-9A-Z]{16}", text), "an assumed access key id appears in the verbose log"
