"""The SageMaker emulator: the operator's test double and the embedded default of `kubemaker-dev up`.

Design: a WSGI layer in front of moto's server application (see `app`). SageMaker itself is
answered by our own state model (`sagemaker/`), where every job and endpoint moves through its
states on a clock, validated against botocore's service model; CloudWatch Logs, Application Auto
Scaling, STS, S3 and the SageMaker operations we do not model are delegated to moto on the same
port. We do not patch moto's sagemaker backend: it completes everything at once, its errors differ
from AWS and it lacks operations, so patching would mean replacing most of it while depending on
its internals, which change between moto releases. Training job logs are written into moto's logs
backend, so the standard `logs` API reads them. STS AssumeRole is ours too (`sts`): its credentials
expire, on a clock tests may skew, and requests signed with an expired token are refused.

Entry points: `python -m kubemaker_emulator`, `kubemaker_emulator.process.start_emulator`, and the
control client `kubemaker_emulator.control.EmulatorControl`.
"""

from kubemaker_emulator.control import EmulatorControl

__all__ = ["EmulatorControl"]
