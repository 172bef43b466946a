"""TrainingJobs with `placement: Cluster`: SageMaker's training container contract on the cluster's
own nodes. `contract` is the contract itself (paths, config files, SM_* variables), `builders` the
pure builders of the Job and Service the operator creates, `pod` what runs inside each training pod
in the operator's own image (`kubemaker cluster stage|upload|checkpoints`)."""
