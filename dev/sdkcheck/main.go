// Command sdkcheck drives the SageMaker emulator with the AWS SDK for Go v2: a client that shares no
// code with botocore, so its serializers, response parsers, error decoding, paginators and waiters
// check the emulator's answers on their own terms. It runs the calls a user's scripts make (create,
// describe, list, paginate, wait) for every kind the emulator implements, prints a JSON report of
// every check and exits 1 if any failed. tests/emulator/test_go_sdk.py builds and runs it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/smithy-go"
)

const (
	account = "123456789012"
	image   = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1.7-1"
	// The waiters' own delays (minutes for training) suit AWS, not an emulator on a fast clock.
	minDelay = 100 * time.Millisecond
	maxDelay = 500 * time.Millisecond
	maxWait  = 90 * time.Second
)

var (
	endpoint  = flag.String("endpoint", "", "the emulator's URL")
	region    = flag.String("region", "us-east-1", "the region to call")
	partition = flag.String("partition", "aws", "the partition every ARN must name")
	prefix    = flag.String("prefix", "go", "a prefix no other run uses; every name starts with it")
	only      = flag.String("flows", "training,tuning,hosting,transform,pipelines,tags,errors", "the flows to run")
)

type check struct {
	Flow   string `json:"flow"`
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

type flow struct {
	name   string
	client *sagemaker.Client
	mu     *sync.Mutex
	checks *[]check
}

// check records one named check: the function's error, if any, is its failure.
func (f flow) check(name string, run func() error) bool {
	err := run()
	f.mu.Lock()
	defer f.mu.Unlock()
	result := check{Flow: f.name, Name: name, OK: err == nil}
	if err != nil {
		result.Detail = err.Error()
	}
	*f.checks = append(*f.checks, result)
	return err == nil
}

func expect(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}

func name(parts ...string) string { return *prefix + "-" + strings.Join(parts, "-") }

// arnOf is the ARN SageMaker gives a resource: its region's partition, its name lower-cased.
func arnOf(kind, resource string) string {
	return fmt.Sprintf("arn:%s:sagemaker:%s:%s:%s/%s", *partition, *region, account, kind, strings.ToLower(resource))
}

func role() *string {
	return aws.String(fmt.Sprintf("arn:%s:iam::%s:role/SageMakerRole", *partition, account))
}

// apiError is the service's error code and message as the SDK decoded them.
func apiError(err error) (string, string) {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode(), api.ErrorMessage()
	}
	return "", ""
}

// control calls the emulator's control API (failures, the tags AWS adds itself).
func control(path string, body map[string]any) error {
	body["region"] = *region
	payload, _ := json.Marshal(body)
	response, err := http.Post(strings.TrimRight(*endpoint, "/")+"/_emulator"+path, "application/json", bytes.NewReader(payload))
	if err != nil {
		return err
	}
	defer response.Body.Close()
	return expect(response.StatusCode == 200, "control %s: HTTP %d", path, response.StatusCode)
}

func poll(what string, done func() (bool, error)) error {
	deadline := time.Now().Add(maxWait)
	for time.Now().Before(deadline) {
		finished, err := done()
		if err != nil || finished {
			return err
		}
		time.Sleep(minDelay)
	}
	return fmt.Errorf("%s: not done after %s", what, maxWait)
}

// Training jobs ----------------------------------------------------------------------------------

func trainingInput(job string) *sagemaker.CreateTrainingJobInput {
	return &sagemaker.CreateTrainingJobInput{
		TrainingJobName: aws.String(job),
		RoleArn:         role(),
		AlgorithmSpecification: &types.AlgorithmSpecification{
			TrainingImage:     aws.String(image),
			TrainingInputMode: types.TrainingInputModeFile,
			MetricDefinitions: []types.MetricDefinition{{Name: aws.String("validation:auc"), Regex: aws.String("auc:([0-9.]+)")}},
		},
		InputDataConfig: []types.Channel{{
			ChannelName: aws.String("train"),
			DataSource:  &types.DataSource{S3DataSource: &types.S3DataSource{S3DataType: types.S3DataTypeS3Prefix, S3Uri: aws.String("s3://bucket/train/")}},
		}},
		OutputDataConfig:  &types.OutputDataConfig{S3OutputPath: aws.String("s3://bucket/output")},
		ResourceConfig:    &types.ResourceConfig{InstanceType: types.TrainingInstanceTypeMlM5Xlarge, InstanceCount: aws.Int32(1), VolumeSizeInGB: aws.Int32(10)},
		StoppingCondition: &types.StoppingCondition{MaxRuntimeInSeconds: aws.Int32(3600)},
		HyperParameters:   map[string]string{"max_depth": "5"},
		Tags:              []types.Tag{{Key: aws.String("owner"), Value: aws.String("sdkcheck")}},
	}
}

func trainingWaiter(client *sagemaker.Client) *sagemaker.TrainingJobCompletedOrStoppedWaiter {
	return sagemaker.NewTrainingJobCompletedOrStoppedWaiter(client, func(o *sagemaker.TrainingJobCompletedOrStoppedWaiterOptions) {
		o.MinDelay, o.MaxDelay = minDelay, maxDelay
	})
}

func runTraining(ctx context.Context, f flow) {
	c := f.client
	jobs := []string{name("train", "done"), name("train", "stopped"), name("train", "failed")}
	for _, job := range jobs {
		f.check("CreateTrainingJob "+job, func() error {
			out, err := c.CreateTrainingJob(ctx, trainingInput(job))
			if err != nil {
				return err
			}
			return expect(aws.ToString(out.TrainingJobArn) == arnOf("training-job", job), "ARN %s", aws.ToString(out.TrainingJobArn))
		})
	}
	// While they run: one stopped, one failed (as the emulator's control fails it).
	f.check("StopTrainingJob", func() error {
		_, err := c.StopTrainingJob(ctx, &sagemaker.StopTrainingJobInput{TrainingJobName: aws.String(jobs[1])})
		return err
	})
	f.check("A training job fails", func() error {
		return control("/training-jobs/"+url.PathEscape(jobs[2])+"/fail", map[string]any{"reason": "AlgorithmError: from sdkcheck"})
	})
	f.check("TrainingJobCompletedOrStopped waiter: Completed", func() error {
		out, err := trainingWaiter(c).WaitForOutput(ctx, &sagemaker.DescribeTrainingJobInput{TrainingJobName: aws.String(jobs[0])}, maxWait)
		if err != nil {
			return err
		}
		transitions := out.SecondaryStatusTransitions
		return errors.Join(
			expect(out.TrainingJobStatus == types.TrainingJobStatusCompleted, "status %s", out.TrainingJobStatus),
			expect(out.SecondaryStatus == types.SecondaryStatusCompleted, "secondary %s", out.SecondaryStatus),
			expect(out.ModelArtifacts != nil && strings.HasSuffix(aws.ToString(out.ModelArtifacts.S3ModelArtifacts), "/output/model.tar.gz"), "model artifacts"),
			expect(len(out.FinalMetricDataList) == 1 && out.FinalMetricDataList[0].Timestamp != nil, "final metrics %v", out.FinalMetricDataList),
			expect(len(transitions) >= 5 && transitions[0].StartTime != nil && transitions[0].EndTime != nil, "transitions %d", len(transitions)),
			expect(out.TrainingStartTime != nil && out.TrainingEndTime != nil && out.TrainingStartTime.Before(*out.TrainingEndTime), "training times"),
			expect(aws.ToInt32(out.BillableTimeInSeconds) > 0, "billable %d", aws.ToInt32(out.BillableTimeInSeconds)),
			// The defaults AWS fills in, which the SDK's callers read as they are.
			expect(out.EnableNetworkIsolation != nil && !*out.EnableNetworkIsolation, "EnableNetworkIsolation %v", out.EnableNetworkIsolation),
			expect(out.OutputDataConfig.CompressionType == types.OutputCompressionTypeGzip, "CompressionType %q", out.OutputDataConfig.CompressionType),
			expect(out.ProfilerConfig != nil && aws.ToInt64(out.ProfilerConfig.ProfilingIntervalInMilliseconds) == 500, "ProfilerConfig %v", out.ProfilerConfig),
			expect(aws.ToInt32(out.StoppingCondition.MaxRuntimeInSeconds) == 3600, "StoppingCondition"),
			expect(out.HyperParameters["max_depth"] == "5", "hyperparameters %v", out.HyperParameters),
		)
	})
	f.check("TrainingJobCompletedOrStopped waiter: Stopped", func() error {
		out, err := trainingWaiter(c).WaitForOutput(ctx, &sagemaker.DescribeTrainingJobInput{TrainingJobName: aws.String(jobs[1])}, maxWait)
		if err != nil {
			return err
		}
		return expect(out.TrainingJobStatus == types.TrainingJobStatusStopped, "status %s", out.TrainingJobStatus)
	})
	f.check("TrainingJobCompletedOrStopped waiter: Failed is the waiter's failure", func() error {
		_, err := trainingWaiter(c).WaitForOutput(ctx, &sagemaker.DescribeTrainingJobInput{TrainingJobName: aws.String(jobs[2])}, maxWait)
		if err == nil || !strings.Contains(err.Error(), "waiter state transitioned to Failure") {
			return fmt.Errorf("waiter answered %v", err)
		}
		out, err := c.DescribeTrainingJob(ctx, &sagemaker.DescribeTrainingJobInput{TrainingJobName: aws.String(jobs[2])})
		if err != nil {
			return err
		}
		return expect(aws.ToString(out.FailureReason) == "AlgorithmError: from sdkcheck", "failure reason %q", aws.ToString(out.FailureReason))
	})
	f.check("ListTrainingJobs paginator, one per page", func() error {
		var names []string
		pages := 0
		paginator := sagemaker.NewListTrainingJobsPaginator(c, &sagemaker.ListTrainingJobsInput{
			NameContains: aws.String(name("train")), MaxResults: aws.Int32(1), SortBy: types.SortByName, SortOrder: types.SortOrderAscending,
		})
		for paginator.HasMorePages() {
			page, err := paginator.NextPage(ctx)
			if err != nil {
				return err
			}
			pages++
			for _, summary := range page.TrainingJobSummaries {
				names = append(names, aws.ToString(summary.TrainingJobName))
			}
		}
		sorted := append([]string(nil), jobs...)
		sort.Strings(sorted)
		return errors.Join(expect(pages == 3, "%d pages", pages), expect(strings.Join(names, ",") == strings.Join(sorted, ","), "names %v", names))
	})
	f.check("ListTrainingJobs time filters (timestamps as the SDK sends them)", func() error {
		hourAgo := time.Now().Add(-time.Hour)
		recent, err := c.ListTrainingJobs(ctx, &sagemaker.ListTrainingJobsInput{NameContains: aws.String(name("train")), CreationTimeAfter: &hourAgo})
		if err != nil {
			return err
		}
		old, err := c.ListTrainingJobs(ctx, &sagemaker.ListTrainingJobsInput{NameContains: aws.String(name("train")), CreationTimeBefore: &hourAgo})
		if err != nil {
			return err
		}
		return errors.Join(expect(len(recent.TrainingJobSummaries) == 3, "after: %d", len(recent.TrainingJobSummaries)),
			expect(len(old.TrainingJobSummaries) == 0, "before: %d", len(old.TrainingJobSummaries)))
	})
}

// Tuning jobs -----------------------------------------------------------------------------------

func runTuning(ctx context.Context, f flow) {
	c := f.client
	tuning := name("tune")
	f.check("CreateHyperParameterTuningJob", func() error {
		_, err := c.CreateHyperParameterTuningJob(ctx, &sagemaker.CreateHyperParameterTuningJobInput{
			HyperParameterTuningJobName: aws.String(tuning),
			HyperParameterTuningJobConfig: &types.HyperParameterTuningJobConfig{
				Strategy:                         types.HyperParameterTuningJobStrategyTypeRandom,
				HyperParameterTuningJobObjective: &types.HyperParameterTuningJobObjective{Type: types.HyperParameterTuningJobObjectiveTypeMaximize, MetricName: aws.String("validation:auc")},
				ResourceLimits:                   &types.ResourceLimits{MaxNumberOfTrainingJobs: aws.Int32(3), MaxParallelTrainingJobs: aws.Int32(2)},
				ParameterRanges: &types.ParameterRanges{
					IntegerParameterRanges:    []types.IntegerParameterRange{{Name: aws.String("max_depth"), MinValue: aws.String("1"), MaxValue: aws.String("10")}},
					ContinuousParameterRanges: []types.ContinuousParameterRange{{Name: aws.String("eta"), MinValue: aws.String("0.1"), MaxValue: aws.String("0.5"), ScalingType: types.HyperParameterScalingTypeLogarithmic}},
				},
			},
			TrainingJobDefinition: &types.HyperParameterTrainingJobDefinition{
				AlgorithmSpecification: &types.HyperParameterAlgorithmSpecification{
					TrainingImage: aws.String(image), TrainingInputMode: types.TrainingInputModeFile,
					MetricDefinitions: []types.MetricDefinition{{Name: aws.String("validation:auc"), Regex: aws.String("auc:([0-9.]+)")}},
				},
				RoleArn:           role(),
				OutputDataConfig:  &types.OutputDataConfig{S3OutputPath: aws.String("s3://bucket/tuning")},
				ResourceConfig:    &types.ResourceConfig{InstanceType: types.TrainingInstanceTypeMlM5Xlarge, InstanceCount: aws.Int32(1), VolumeSizeInGB: aws.Int32(10)},
				StoppingCondition: &types.StoppingCondition{MaxRuntimeInSeconds: aws.Int32(3600)},
			},
		})
		return err
	})
	var best string
	f.check("DescribeHyperParameterTuningJob until Completed (the SDK has no waiter for it)", func() error {
		var out *sagemaker.DescribeHyperParameterTuningJobOutput
		err := poll("tuning job", func() (bool, error) {
			var err error
			out, err = c.DescribeHyperParameterTuningJob(ctx, &sagemaker.DescribeHyperParameterTuningJobInput{HyperParameterTuningJobName: aws.String(tuning)})
			return err == nil && out.HyperParameterTuningJobStatus != types.HyperParameterTuningJobStatusInProgress, err
		})
		if err != nil {
			return err
		}
		if out.BestTrainingJob != nil {
			best = aws.ToString(out.BestTrainingJob.TrainingJobName)
		}
		return errors.Join(
			expect(out.HyperParameterTuningJobStatus == types.HyperParameterTuningJobStatusCompleted, "status %s", out.HyperParameterTuningJobStatus),
			expect(aws.ToString(out.HyperParameterTuningJobArn) == arnOf("hyper-parameter-tuning-job", tuning), "ARN %s", aws.ToString(out.HyperParameterTuningJobArn)),
			expect(out.TrainingJobStatusCounters != nil && aws.ToInt32(out.TrainingJobStatusCounters.Completed) == 3, "counters %+v", out.TrainingJobStatusCounters),
			expect(out.BestTrainingJob != nil && out.BestTrainingJob.FinalHyperParameterTuningJobObjectiveMetric != nil, "best training job"),
			expect(out.HyperParameterTuningJobConfig.TrainingJobEarlyStoppingType == types.TrainingJobEarlyStoppingTypeOff, "early stopping %q", out.HyperParameterTuningJobConfig.TrainingJobEarlyStoppingType),
		)
	})
	f.check("ListTrainingJobsForHyperParameterTuningJob paginator, best first", func() error {
		var names []string
		paginator := sagemaker.NewListTrainingJobsForHyperParameterTuningJobPaginator(c, &sagemaker.ListTrainingJobsForHyperParameterTuningJobInput{
			HyperParameterTuningJobName: aws.String(tuning), MaxResults: aws.Int32(1),
			SortBy: types.TrainingJobSortByOptionsFinalObjectiveMetricValue, SortOrder: types.SortOrderDescending,
		})
		for paginator.HasMorePages() {
			page, err := paginator.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, summary := range page.TrainingJobSummaries {
				names = append(names, aws.ToString(summary.TrainingJobName))
			}
		}
		return errors.Join(expect(len(names) == 3, "children %v", names), expect(len(names) > 0 && names[0] == best, "first %v, best %s", names, best))
	})
	f.check("ListHyperParameterTuningJobs paginator", func() error {
		count := 0
		paginator := sagemaker.NewListHyperParameterTuningJobsPaginator(c, &sagemaker.ListHyperParameterTuningJobsInput{NameContains: aws.String(tuning), MaxResults: aws.Int32(1)})
		for paginator.HasMorePages() {
			page, err := paginator.NextPage(ctx)
			if err != nil {
				return err
			}
			count += len(page.HyperParameterTuningJobSummaries)
		}
		return expect(count == 1, "%d tuning jobs", count)
	})
	f.check("DescribeHyperParameterTuningJob of a missing job: the SDK's typed ResourceNotFound", func() error {
		_, err := c.DescribeHyperParameterTuningJob(ctx, &sagemaker.DescribeHyperParameterTuningJobInput{HyperParameterTuningJobName: aws.String(name("none"))})
		var notFound *types.ResourceNotFound
		return expect(errors.As(err, &notFound), "error %v", err)
	})
}

// Models, endpoint configs and endpoints --------------------------------------------------------

func inService(client *sagemaker.Client) *sagemaker.EndpointInServiceWaiter {
	return sagemaker.NewEndpointInServiceWaiter(client, func(o *sagemaker.EndpointInServiceWaiterOptions) { o.MinDelay, o.MaxDelay = minDelay, maxDelay })
}

func deleted(client *sagemaker.Client) *sagemaker.EndpointDeletedWaiter {
	return sagemaker.NewEndpointDeletedWaiter(client, func(o *sagemaker.EndpointDeletedWaiterOptions) { o.MinDelay, o.MaxDelay = minDelay, maxDelay })
}

func runHosting(ctx context.Context, f flow) {
	c := f.client
	models := []string{name("model", "a"), name("model", "b")}
	configs := []string{name("config", "a"), name("config", "b")}
	endpoints := []string{name("endpoint", "a"), name("endpoint", "failing")}
	for _, model := range models {
		f.check("CreateModel and DescribeModel "+model, func() error {
			created, err := c.CreateModel(ctx, &sagemaker.CreateModelInput{
				ModelName: aws.String(model), ExecutionRoleArn: role(),
				PrimaryContainer: &types.ContainerDefinition{Image: aws.String(image), ModelDataUrl: aws.String("s3://bucket/output/model.tar.gz")},
			})
			if err != nil {
				return err
			}
			out, err := c.DescribeModel(ctx, &sagemaker.DescribeModelInput{ModelName: aws.String(model)})
			if err != nil {
				return err
			}
			return errors.Join(
				expect(aws.ToString(created.ModelArn) == arnOf("model", model), "ARN %s", aws.ToString(created.ModelArn)),
				expect(out.EnableNetworkIsolation != nil, "EnableNetworkIsolation missing"),
				expect(out.PrimaryContainer.Mode == types.ContainerModeSingleModel, "mode %q", out.PrimaryContainer.Mode),
				expect(out.CreationTime != nil && time.Since(*out.CreationTime) < time.Hour, "creation time %v", out.CreationTime),
			)
		})
	}
	for index, config := range configs {
		f.check("CreateEndpointConfig and DescribeEndpointConfig "+config, func() error {
			_, err := c.CreateEndpointConfig(ctx, &sagemaker.CreateEndpointConfigInput{
				EndpointConfigName: aws.String(config),
				ProductionVariants: []types.ProductionVariant{{
					VariantName: aws.String("blue"), ModelName: aws.String(models[index]),
					InstanceType: types.ProductionVariantInstanceTypeMlM5Large, InitialInstanceCount: aws.Int32(1),
				}},
			})
			if err != nil {
				return err
			}
			out, err := c.DescribeEndpointConfig(ctx, &sagemaker.DescribeEndpointConfigInput{EndpointConfigName: aws.String(config)})
			if err != nil {
				return err
			}
			return errors.Join(
				// What a controller waits for before it calls an endpoint config settled.
				expect(out.EnableNetworkIsolation != nil, "EnableNetworkIsolation missing"),
				expect(aws.ToFloat32(out.ProductionVariants[0].InitialVariantWeight) == 1.0, "weight %v", out.ProductionVariants[0].InitialVariantWeight),
			)
		})
	}
	f.check("ListModels and ListEndpointConfigs paginators", func() error {
		modelCount, configCount := 0, 0
		modelPages := sagemaker.NewListModelsPaginator(c, &sagemaker.ListModelsInput{NameContains: aws.String(name("model")), MaxResults: aws.Int32(1)})
		for modelPages.HasMorePages() {
			page, err := modelPages.NextPage(ctx)
			if err != nil {
				return err
			}
			modelCount += len(page.Models)
		}
		configPages := sagemaker.NewListEndpointConfigsPaginator(c, &sagemaker.ListEndpointConfigsInput{NameContains: aws.String(name("config")), MaxResults: aws.Int32(1)})
		for configPages.HasMorePages() {
			page, err := configPages.NextPage(ctx)
			if err != nil {
				return err
			}
			configCount += len(page.EndpointConfigs)
		}
		return errors.Join(expect(modelCount == 2, "%d models", modelCount), expect(configCount == 2, "%d configs", configCount))
	})
	f.check("EndpointInService waiter after CreateEndpoint", func() error {
		created, err := c.CreateEndpoint(ctx, &sagemaker.CreateEndpointInput{EndpointName: aws.String(endpoints[0]), EndpointConfigName: aws.String(configs[0])})
		if err != nil {
			return err
		}
		out, err := inService(c).WaitForOutput(ctx, &sagemaker.DescribeEndpointInput{EndpointName: aws.String(endpoints[0])}, maxWait)
		if err != nil {
			return err
		}
		variant := out.ProductionVariants[0]
		return errors.Join(
			expect(aws.ToString(created.EndpointArn) == arnOf("endpoint", endpoints[0]), "ARN %s", aws.ToString(created.EndpointArn)),
			expect(aws.ToInt32(variant.CurrentInstanceCount) == 1 && len(variant.DeployedImages) == 1, "variant %+v", variant),
		)
	})
	f.check("UpdateEndpointWeightsAndCapacities, then EndpointInService", func() error {
		_, err := c.UpdateEndpointWeightsAndCapacities(ctx, &sagemaker.UpdateEndpointWeightsAndCapacitiesInput{
			EndpointName:                aws.String(endpoints[0]),
			DesiredWeightsAndCapacities: []types.DesiredWeightAndCapacity{{VariantName: aws.String("blue"), DesiredInstanceCount: aws.Int32(2)}},
		})
		if err != nil {
			return err
		}
		out, err := inService(c).WaitForOutput(ctx, &sagemaker.DescribeEndpointInput{EndpointName: aws.String(endpoints[0])}, maxWait)
		if err != nil {
			return err
		}
		return expect(aws.ToInt32(out.ProductionVariants[0].CurrentInstanceCount) == 2, "count %d", aws.ToInt32(out.ProductionVariants[0].CurrentInstanceCount))
	})
	f.check("UpdateEndpoint to another config, then EndpointInService", func() error {
		if _, err := c.UpdateEndpoint(ctx, &sagemaker.UpdateEndpointInput{EndpointName: aws.String(endpoints[0]), EndpointConfigName: aws.String(configs[1])}); err != nil {
			return err
		}
		out, err := inService(c).WaitForOutput(ctx, &sagemaker.DescribeEndpointInput{EndpointName: aws.String(endpoints[0])}, maxWait)
		if err != nil {
			return err
		}
		return expect(aws.ToString(out.EndpointConfigName) == configs[1], "config %s", aws.ToString(out.EndpointConfigName))
	})
	f.check("EndpointInService waiter: Failed is the waiter's failure", func() error {
		if err := control("/endpoints/"+url.PathEscape(endpoints[1])+"/fail-creation", map[string]any{"reason": "from sdkcheck"}); err != nil {
			return err
		}
		if _, err := c.CreateEndpoint(ctx, &sagemaker.CreateEndpointInput{EndpointName: aws.String(endpoints[1]), EndpointConfigName: aws.String(configs[0])}); err != nil {
			return err
		}
		_, err := inService(c).WaitForOutput(ctx, &sagemaker.DescribeEndpointInput{EndpointName: aws.String(endpoints[1])}, maxWait)
		return expect(err != nil && strings.Contains(err.Error(), "waiter state transitioned to Failure"), "waiter answered %v", err)
	})
	f.check("ListEndpoints paginator", func() error {
		count := 0
		paginator := sagemaker.NewListEndpointsPaginator(c, &sagemaker.ListEndpointsInput{NameContains: aws.String(name("endpoint")), MaxResults: aws.Int32(1)})
		for paginator.HasMorePages() {
			page, err := paginator.NextPage(ctx)
			if err != nil {
				return err
			}
			count += len(page.Endpoints)
		}
		return expect(count == 2, "%d endpoints", count)
	})
	for _, endpointName := range endpoints {
		f.check("DeleteEndpoint, then EndpointDeleted (ValidationException is its success) "+endpointName, func() error {
			if _, err := c.DeleteEndpoint(ctx, &sagemaker.DeleteEndpointInput{EndpointName: aws.String(endpointName)}); err != nil {
				return err
			}
			return deleted(c).Wait(ctx, &sagemaker.DescribeEndpointInput{EndpointName: aws.String(endpointName)}, maxWait)
		})
	}
	f.check("DeleteEndpointConfig and DeleteModel; the model is then not found", func() error {
		for index := range configs {
			if _, err := c.DeleteEndpointConfig(ctx, &sagemaker.DeleteEndpointConfigInput{EndpointConfigName: aws.String(configs[index])}); err != nil {
				return err
			}
			if _, err := c.DeleteModel(ctx, &sagemaker.DeleteModelInput{ModelName: aws.String(models[index])}); err != nil {
				return err
			}
		}
		_, err := c.DescribeModel(ctx, &sagemaker.DescribeModelInput{ModelName: aws.String(models[0])})
		code, message := apiError(err)
		return expect(code == "ValidationException" && strings.Contains(message, arnOf("model", models[0])), "%s: %s", code, message)
	})
}

// Transform jobs --------------------------------------------------------------------------------

func runTransform(ctx context.Context, f flow) {
	c := f.client
	model := name("transform", "model")
	jobs := []string{name("transform", "done"), name("transform", "stopped")}
	waiter := sagemaker.NewTransformJobCompletedOrStoppedWaiter(c, func(o *sagemaker.TransformJobCompletedOrStoppedWaiterOptions) {
		o.MinDelay, o.MaxDelay = minDelay, maxDelay
	})
	f.check("CreateModel and CreateTransformJob", func() error {
		if _, err := c.CreateModel(ctx, &sagemaker.CreateModelInput{ModelName: aws.String(model), ExecutionRoleArn: role(), PrimaryContainer: &types.ContainerDefinition{Image: aws.String(image)}}); err != nil {
			return err
		}
		for _, job := range jobs {
			out, err := c.CreateTransformJob(ctx, &sagemaker.CreateTransformJobInput{
				TransformJobName: aws.String(job), ModelName: aws.String(model),
				TransformInput: &types.TransformInput{DataSource: &types.TransformDataSource{
					S3DataSource: &types.TransformS3DataSource{S3DataType: types.S3DataTypeS3Prefix, S3Uri: aws.String("s3://bucket/batch/")},
				}},
				TransformOutput:    &types.TransformOutput{S3OutputPath: aws.String("s3://bucket/batch-out/")},
				TransformResources: &types.TransformResources{InstanceType: types.TransformInstanceTypeMlM5Large, InstanceCount: aws.Int32(1)},
			})
			if err != nil {
				return err
			}
			if aws.ToString(out.TransformJobArn) != arnOf("transform-job", job) {
				return fmt.Errorf("ARN %s", aws.ToString(out.TransformJobArn))
			}
		}
		_, err := c.StopTransformJob(ctx, &sagemaker.StopTransformJobInput{TransformJobName: aws.String(jobs[1])})
		return err
	})
	f.check("TransformJobCompletedOrStopped waiter: Completed, with AWS's defaults", func() error {
		out, err := waiter.WaitForOutput(ctx, &sagemaker.DescribeTransformJobInput{TransformJobName: aws.String(jobs[0])}, maxWait)
		if err != nil {
			return err
		}
		return errors.Join(
			expect(out.TransformJobStatus == types.TransformJobStatusCompleted, "status %s", out.TransformJobStatus),
			expect(out.DataProcessing != nil && out.DataProcessing.JoinSource == types.JoinSourceNone, "DataProcessing %+v", out.DataProcessing),
			expect(out.TransformInput.SplitType == types.SplitTypeNone, "SplitType %q", out.TransformInput.SplitType),
			expect(aws.ToInt32(out.MaxPayloadInMB) == 6, "MaxPayloadInMB %d", aws.ToInt32(out.MaxPayloadInMB)),
			expect(out.TransformStartTime != nil && out.TransformEndTime != nil, "times"),
		)
	})
	f.check("TransformJobCompletedOrStopped waiter: Stopped", func() error {
		out, err := waiter.WaitForOutput(ctx, &sagemaker.DescribeTransformJobInput{TransformJobName: aws.String(jobs[1])}, maxWait)
		if err != nil {
			return err
		}
		return expect(out.TransformJobStatus == types.TransformJobStatusStopped, "status %s", out.TransformJobStatus)
	})
	f.check("ListTransformJobs paginator", func() error {
		count := 0
		paginator := sagemaker.NewListTransformJobsPaginator(c, &sagemaker.ListTransformJobsInput{NameContains: aws.String(name("transform")), MaxResults: aws.Int32(1)})
		for paginator.HasMorePages() {
			page, err := paginator.NextPage(ctx)
			if err != nil {
				return err
			}
			count += len(page.TransformJobSummaries)
		}
		return expect(count == 2, "%d jobs", count)
	})
}

// Pipelines and executions ----------------------------------------------------------------------

const definition = `{"Version": "2020-12-01", "Parameters": [{"Name": "Epochs", "Type": "Integer", "DefaultValue": 1}],
 "Steps": [{"Name": "Prepare", "Type": "Processing", "Arguments": {}},
           {"Name": "Train", "Type": "Training", "DependsOn": ["Prepare"], "Arguments": {}}]}`

func token(parts ...string) *string {
	value := strings.Repeat(name(parts...), 4)
	if len(value) > 64 {
		value = value[:64]
	}
	return aws.String(value)
}

func runPipelines(ctx context.Context, f flow) {
	c := f.client
	pipelines := []string{name("pipeline", "a"), name("pipeline", "b")}
	var executions []string
	for _, pipeline := range pipelines {
		f.check("CreatePipeline and DescribePipeline "+pipeline, func() error {
			created, err := c.CreatePipeline(ctx, &sagemaker.CreatePipelineInput{
				PipelineName: aws.String(pipeline), RoleArn: role(), PipelineDefinition: aws.String(definition), ClientRequestToken: token(pipeline),
			})
			if err != nil {
				return err
			}
			out, err := c.DescribePipeline(ctx, &sagemaker.DescribePipelineInput{PipelineName: aws.String(pipeline)})
			if err != nil {
				return err
			}
			return errors.Join(
				expect(aws.ToString(created.PipelineArn) == arnOf("pipeline", pipeline), "ARN %s", aws.ToString(created.PipelineArn)),
				expect(aws.ToString(out.PipelineDefinition) == definition, "definition"),
				expect(out.PipelineStatus == types.PipelineStatusActive, "status %s", out.PipelineStatus),
			)
		})
	}
	f.check("ListPipelines paginator", func() error {
		count := 0
		paginator := sagemaker.NewListPipelinesPaginator(c, &sagemaker.ListPipelinesInput{PipelineNamePrefix: aws.String(name("pipeline")), MaxResults: aws.Int32(1)})
		for paginator.HasMorePages() {
			page, err := paginator.NextPage(ctx)
			if err != nil {
				return err
			}
			count += len(page.PipelineSummaries)
		}
		return expect(count == 2, "%d pipelines", count)
	})
	for index := 0; index < 2; index++ {
		f.check(fmt.Sprintf("StartPipelineExecution %d, then DescribePipelineExecution until Succeeded (no SDK waiter)", index), func() error {
			started, err := c.StartPipelineExecution(ctx, &sagemaker.StartPipelineExecutionInput{
				PipelineName: aws.String(pipelines[0]), ClientRequestToken: token("execution", fmt.Sprint(index)),
				PipelineParameters: []types.Parameter{
					{Name: aws.String("Epochs"), Value: aws.String("3")}, {Name: aws.String("Rate"), Value: aws.String("0.1")}, {Name: aws.String("Seed"), Value: aws.String("7")},
				},
			})
			if err != nil {
				return err
			}
			arn := aws.ToString(started.PipelineExecutionArn)
			executions = append(executions, arn)
			var out *sagemaker.DescribePipelineExecutionOutput
			err = poll("pipeline execution", func() (bool, error) {
				var err error
				out, err = c.DescribePipelineExecution(ctx, &sagemaker.DescribePipelineExecutionInput{PipelineExecutionArn: aws.String(arn)})
				return err == nil && out.PipelineExecutionStatus != types.PipelineExecutionStatusExecuting, err
			})
			if err != nil {
				return err
			}
			return errors.Join(
				expect(strings.HasPrefix(arn, arnOf("pipeline", pipelines[0])+"/execution/"), "ARN %s", arn),
				expect(out.PipelineExecutionStatus == types.PipelineExecutionStatusSucceeded, "status %s", out.PipelineExecutionStatus),
			)
		})
	}
	if len(executions) == 0 {
		return
	}
	f.check("ListPipelineExecutions, ListPipelineExecutionSteps, ListPipelineParametersForExecution paginators", func() error {
		runs, steps, parameters := 0, 0, 0
		runPages := sagemaker.NewListPipelineExecutionsPaginator(c, &sagemaker.ListPipelineExecutionsInput{PipelineName: aws.String(pipelines[0]), MaxResults: aws.Int32(1)})
		for runPages.HasMorePages() {
			page, err := runPages.NextPage(ctx)
			if err != nil {
				return err
			}
			runs += len(page.PipelineExecutionSummaries)
		}
		stepPages := sagemaker.NewListPipelineExecutionStepsPaginator(c, &sagemaker.ListPipelineExecutionStepsInput{PipelineExecutionArn: aws.String(executions[0]), MaxResults: aws.Int32(1)})
		for stepPages.HasMorePages() {
			page, err := stepPages.NextPage(ctx)
			if err != nil {
				return err
			}
			steps += len(page.PipelineExecutionSteps)
		}
		parameterPages := sagemaker.NewListPipelineParametersForExecutionPaginator(c, &sagemaker.ListPipelineParametersForExecutionInput{PipelineExecutionArn: aws.String(executions[0]), MaxResults: aws.Int32(1)})
		for parameterPages.HasMorePages() {
			page, err := parameterPages.NextPage(ctx)
			if err != nil {
				return err
			}
			parameters += len(page.PipelineParameters)
		}
		return errors.Join(expect(runs == 2, "%d executions", runs), expect(steps == 2, "%d steps", steps), expect(parameters == 3, "%d parameters", parameters))
	})
	f.check("DescribePipelineDefinitionForExecution", func() error {
		out, err := c.DescribePipelineDefinitionForExecution(ctx, &sagemaker.DescribePipelineDefinitionForExecutionInput{PipelineExecutionArn: aws.String(executions[0])})
		if err != nil {
			return err
		}
		return expect(aws.ToString(out.PipelineDefinition) == definition, "definition")
	})
	f.check("DeletePipeline; the pipeline is then the SDK's typed ResourceNotFound", func() error {
		if _, err := c.DeletePipeline(ctx, &sagemaker.DeletePipelineInput{PipelineName: aws.String(pipelines[1]), ClientRequestToken: token("delete")}); err != nil {
			return err
		}
		_, err := c.DescribePipeline(ctx, &sagemaker.DescribePipelineInput{PipelineName: aws.String(pipelines[1])})
		var notFound *types.ResourceNotFound
		return expect(errors.As(err, &notFound), "error %v", err)
	})
}

// Tags ------------------------------------------------------------------------------------------

func runTags(ctx context.Context, f flow) {
	c := f.client
	model := name("tags")
	arn := arnOf("model", model)
	f.check("AddTags, and the tags AWS adds itself, listed by the ListTags paginator", func() error {
		if _, err := c.CreateModel(ctx, &sagemaker.CreateModelInput{ModelName: aws.String(model), ExecutionRoleArn: role(), PrimaryContainer: &types.ContainerDefinition{Image: aws.String(image)}}); err != nil {
			return err
		}
		var tags []types.Tag
		for index := 0; index < 40; index++ {
			tags = append(tags, types.Tag{Key: aws.String(fmt.Sprintf("team-%02d", index)), Value: aws.String("ml")})
		}
		if _, err := c.AddTags(ctx, &sagemaker.AddTagsInput{ResourceArn: aws.String(arn), Tags: tags}); err != nil {
			return err
		}
		var system []map[string]string
		for index := 0; index < 30; index++ {
			system = append(system, map[string]string{"Key": fmt.Sprintf("aws:sdkcheck:%02d", index), "Value": "x"})
		}
		if err := control("/system-tags", map[string]any{"resource_arn": arn, "tags": system}); err != nil {
			return err
		}
		pages, listed := 0, 0
		paginator := sagemaker.NewListTagsPaginator(c, &sagemaker.ListTagsInput{ResourceArn: aws.String(arn), MaxResults: aws.Int32(50)})
		for paginator.HasMorePages() {
			page, err := paginator.NextPage(ctx)
			if err != nil {
				return err
			}
			pages++
			listed += len(page.Tags)
		}
		return errors.Join(expect(pages == 2, "%d pages", pages), expect(listed == 70, "%d tags", listed))
	})
	f.check("ListTags with a token that is not SageMaker's is refused", func() error {
		_, err := c.ListTags(ctx, &sagemaker.ListTagsInput{ResourceArn: aws.String(arn), NextToken: aws.String("bm90LWEtdG9rZW4=")})
		code, message := apiError(err)
		return expect(code == "ValidationException" && message == "Invalid pagination token", "%s: %s", code, message)
	})
	f.check("AddTags with an aws: key is refused", func() error {
		_, err := c.AddTags(ctx, &sagemaker.AddTagsInput{ResourceArn: aws.String(arn), Tags: []types.Tag{{Key: aws.String("aws:mine"), Value: aws.String("x")}}})
		code, _ := apiError(err)
		return expect(code == "ValidationException", "error %v", err)
	})
}

// Errors ----------------------------------------------------------------------------------------

func runErrors(ctx context.Context, f flow) {
	c := f.client
	f.check("DescribeTrainingJob of a missing job: ValidationException with AWS's message", func() error {
		_, err := c.DescribeTrainingJob(ctx, &sagemaker.DescribeTrainingJobInput{TrainingJobName: aws.String(name("none"))})
		code, message := apiError(err)
		return expect(code == "ValidationException" && message == "Requested resource not found.", "%s: %s", code, message)
	})
	f.check("A name breaking its pattern: the service's own validation (the SDK checks only required members)", func() error {
		_, err := c.CreateTrainingJob(ctx, trainingInput(name("bad_name")))
		code, message := apiError(err)
		return expect(code == "ValidationException" && strings.Contains(message, "at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern"), "%s: %s", code, message)
	})
	f.check("A duplicate training job: the SDK's typed ResourceInUse", func() error {
		job := name("duplicate")
		if _, err := c.CreateTrainingJob(ctx, trainingInput(job)); err != nil {
			return err
		}
		_, err := c.CreateTrainingJob(ctx, trainingInput(job))
		var inUse *types.ResourceInUse
		return expect(errors.As(err, &inUse), "error %v", err)
	})
}

func main() {
	flag.Parse()
	if *endpoint == "" {
		fmt.Fprintln(os.Stderr, "sdkcheck: -endpoint is required")
		os.Exit(2)
	}
	client := sagemaker.New(sagemaker.Options{
		Region:       *region,
		BaseEndpoint: aws.String(*endpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing", Source: "sdkcheck"}, nil
		}),
	})
	runners := map[string]func(context.Context, flow){
		"training": runTraining, "tuning": runTuning, "hosting": runHosting, "transform": runTransform,
		"pipelines": runPipelines, "tags": runTags, "errors": runErrors,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var checks []check
	var group sync.WaitGroup
	for _, flowName := range strings.Split(*only, ",") {
		run, known := runners[flowName]
		if !known {
			fmt.Fprintf(os.Stderr, "sdkcheck: no flow %q\n", flowName)
			os.Exit(2)
		}
		group.Add(1)
		go func(flowName string) {
			defer group.Done()
			run(ctx, flow{name: flowName, client: client, mu: &mu, checks: &checks})
		}(flowName)
	}
	group.Wait()
	sort.SliceStable(checks, func(i, j int) bool { return checks[i].Flow < checks[j].Flow })
	failed := 0
	for _, result := range checks {
		if !result.OK {
			failed++
		}
	}
	report, _ := json.MarshalIndent(map[string]any{"region": *region, "partition": *partition, "checks": checks, "failed": failed}, "", "  ")
	fmt.Println(string(report))
	if failed > 0 {
		os.Exit(1)
	}
}
