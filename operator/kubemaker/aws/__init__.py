"""The one place that talks to AWS: clients per (region, role), retries, errors, ownership tags."""
