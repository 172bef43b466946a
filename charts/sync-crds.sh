#!/usr/bin/env bash
# Copies the generated CRDs (the repository's crds/, the one source) into the chart's crds/.
# Run after `make generate`; tests/unit/test_chart.py fails while the copies differ.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f charts/kubemaker/crds/sagemaker.kubemaker.io_*.yaml
cp crds/*.yaml charts/kubemaker/crds/
