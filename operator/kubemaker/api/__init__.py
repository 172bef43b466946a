"""The custom resource API: SageMaker request shapes generated from botocore (`shapes`), one module per
kind (spec, status, request builders, `KindInfo`), and `registry` with the entry points controllers use."""
