"""Pure planners, one module per kind: (desired spec, observed SageMaker state, status) -> plan.

Nothing here performs I/O, so every decision is unit-tested without a cluster or AWS.
"""
