"""The objects of the example pipeline (example_pipeline.py), apart so they can be used without kfp."""

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:latest"

TRAINING_JOB = f"""
apiVersion: sagemaker.kubemaker.io/v1alpha1
kind: TrainingJob
metadata:
  generateName: churn-train-
spec:
  roleArn: {ROLE}
  algorithmSpecification:
    trainingImage: {IMAGE}
    trainingInputMode: File
  hyperParameters:
    objective: binary:logistic
    num_round: "50"
  outputDataConfig:
    s3OutputPath: s3://kubemaker-demo/churn/output/
  resourceConfig:
    instanceType: ml.m5.large
    instanceCount: 1
    volumeSizeInGB: 5
  stoppingCondition:
    maxRuntimeInSeconds: 1800
"""

# The same training on the cluster's own nodes (docs/training.md, "Train on your own nodes"): the model
# lands where SageMaker would put it, so the Model and Endpoint steps serve it from SageMaker unchanged.
TRAINING_JOB_ON_CLUSTER = TRAINING_JOB.replace("spec:\n", """spec:
  placement: Cluster
  placementOptions:
    serviceAccountName: training
""", 1)

MODEL = f"""
apiVersion: sagemaker.kubemaker.io/v1alpha1
kind: Model
metadata:
  name: churn
spec:
  executionRoleArn: {ROLE}
  primaryContainer:
    image: {IMAGE}
"""

ENDPOINT = """
apiVersion: sagemaker.kubemaker.io/v1alpha1
kind: Endpoint
metadata:
  name: churn
spec:
  productionVariants:
    - variantName: main
      modelRef:
        name: churn
      serverlessConfig:
        memorySizeInMB: 2048
        maxConcurrency: 5
"""
