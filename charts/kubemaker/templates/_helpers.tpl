{{- define "kubemaker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kubemaker.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "kubemaker.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "kubemaker.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "kubemaker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubemaker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kubemaker.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "kubemaker.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubemaker
{{- end }}

{{/* Our kinds' plurals, for RBAC; tests/unit/test_chart.py keeps it equal to the operator's kinds. */}}
{{- define "kubemaker.plurals" -}}
trainingjobs hyperparametertuningjobs models endpoints transformjobs pipelines pipelineexecutions processingjobs modelpackagegroups modelpackages monitoringschedules inferencecomponents
{{- end }}

{{- define "kubemaker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kubemaker.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* A namespace policy in the operator's configuration shape, exactly as given: an empty list stays
empty and allows nothing (Helm's `default` would take it for unset). A key left out (or null) gets the
operator's default; an empty assumeRoleArn means none. */}}
{{- define "kubemaker.namespacePolicy" -}}
{{- $policy := dict }}
{{- range $key := list "allowedRoleArns" "allowedSageMakerReferences" "allowAdoption" }}
{{- if and (hasKey $ $key) (not (kindIs "invalid" (get $ $key))) }}{{ $_ := set $policy $key (get $ $key) }}{{ end }}
{{- end }}
{{- if .assumeRoleArn }}{{ $_ := set $policy "assumeRoleArn" .assumeRoleArn }}{{ end }}
{{- toYaml $policy }}
{{- end }}

{{/* The operator's configuration file (kubemaker.config.OperatorConfig). */}}
{{- define "kubemaker.config" -}}
region: {{ .Values.aws.region | quote }}
{{- with .Values.aws.endpointUrl }}
endpointUrl: {{ . | quote }}
{{- end }}
namespaces: {{ .Values.watchNamespaces | toJson }}
pollIntervalSeconds: {{ .Values.pollIntervalSeconds }}
resyncIntervalSeconds: {{ .Values.resyncIntervalSeconds }}
quotaRecheckIntervalSeconds: {{ .Values.quotaRecheckIntervalSeconds }}
maxConcurrentReconciles: {{ .Values.maxConcurrentReconciles }}
logFormat: {{ .Values.logFormat }}
livenessPort: {{ .Values.livenessPort }}
metricsPort: {{ .Values.metrics.port }}
leaderElection:
  leaseName: {{ include "kubemaker.fullname" . | quote }}
  leaseNamespace: {{ .Release.Namespace | quote }}
  leaseDurationSeconds: {{ .Values.leaderElection.leaseDurationSeconds }}
  renewDeadlineSeconds: {{ .Values.leaderElection.renewDeadlineSeconds }}
  retryPeriodSeconds: {{ .Values.leaderElection.retryPeriodSeconds }}
{{- with .Values.clusterPlacement }}
clusterPlacement:
  enabled: {{ .enabled }}
  image: "{{ $.Values.image.repository }}:{{ $.Values.image.tag | default $.Chart.AppVersion }}"
  imagePullPolicy: {{ $.Values.image.pullPolicy }}
  instanceTypes: {{ .instanceTypes | toJson }}
  env: {{ .env | toJson }}
  hostNetwork: {{ .hostNetwork }}
  {{- with .dnsConfig }}
  dnsConfig: {{ . | toJson }}
  {{- end }}
  clusterDomain: {{ .clusterDomain | quote }}
  networkInterfaceName: {{ .networkInterfaceName | quote }}
  peerTimeoutSeconds: {{ .peerTimeoutSeconds }}
{{- end }}
defaultNamespacePolicy:
  {{- include "kubemaker.namespacePolicy" .Values.defaultNamespacePolicy | nindent 2 }}
namespacePolicies:
{{- range $namespace, $policy := .Values.namespacePolicies }}
  {{ $namespace }}:
    {{- include "kubemaker.namespacePolicy" $policy | nindent 4 }}
{{- else }} {}
{{- end }}
{{- end }}
