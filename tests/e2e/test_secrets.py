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
