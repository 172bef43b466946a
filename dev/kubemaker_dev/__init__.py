"""The local test world: a real kube-apiserver + etcd as local processes, and the SageMaker emulator."""
