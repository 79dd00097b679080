{{/* Names and labels shared by every object of the release. */}}

{{- define "tritontts.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tritontts.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The component tells the Triton pods from the optional gateway and worker pods, which
are of the same release: every selector names it. */}}
{{- define "tritontts.componentSelectorLabels" -}}
app.kubernetes.io/name: {{ include "tritontts.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tritontts.componentLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "tritontts.componentSelectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{- define "tritontts.selectorLabels" -}}
{{ include "tritontts.componentSelectorLabels" (dict "root" . "component" "inference") }}
{{- end }}

{{- define "tritontts.labels" -}}
{{ include "tritontts.componentLabels" (dict "root" . "component" "inference") }}
tritontts.io/profile: {{ .Values.profile }}
{{- end }}

{{- define "tritontts.gatewaySelectorLabels" -}}
{{ include "tritontts.componentSelectorLabels" (dict "root" . "component" "gateway") }}
{{- end }}

{{- define "tritontts.gatewayLabels" -}}
{{ include "tritontts.componentLabels" (dict "root" . "component" "gateway") }}
{{- end }}

{{- define "tritontts.workerSelectorLabels" -}}
{{ include "tritontts.componentSelectorLabels" (dict "root" . "component" "worker") }}
{{- end }}

{{- define "tritontts.workerLabels" -}}
{{ include "tritontts.componentLabels" (dict "root" . "component" "worker") }}
{{- end }}

{{/* The gateway and the workers run the image's cpu target whatever the profile. */}}
{{- define "tritontts.cpuImage" -}}
{{- printf "%s:%s" .Values.image.repository (default (printf "%s-cpu" .Chart.AppVersion) .Values.image.cpuTag) }}
{{- end }}

{{/* The gRPC address of this release's Triton Service, for the gateway and the workers. */}}
{{- define "tritontts.tritonUrl" -}}
{{- printf "%s:%v" (include "tritontts.fullname" .) .Values.ports.grpc }}
{{- end }}

{{/* requests equal limits, from a {cpu, memory} map. */}}
{{- define "tritontts.cpuResources" -}}
{{- $r := dict "cpu" .cpu "memory" .memory }}
{{- toYaml (dict "requests" $r "limits" $r) }}
{{- end }}

{{- define "tritontts.image" -}}
{{- printf "%s:%s" .Values.image.repository (default (printf "%s-%s" .Chart.AppVersion .Values.profile) .Values.image.tag) }}
{{- end }}

{{/* The PromQL selector of this release's Triton series (the monitors set job to this). */}}
{{- define "tritontts.job" -}}
job="{{ include "tritontts.fullname" . }}", namespace="{{ .Release.Namespace }}"
{{- end }}

{{/* Resources: requests equal limits. */}}
{{- define "tritontts.resources" -}}
{{- $r := dict "cpu" .Values.resources.cpu "memory" .Values.resources.memory }}
{{- if gt (int .Values.resources.gpus) 0 }}
{{- $_ := set $r "nvidia.com/gpu" (toString .Values.resources.gpus) }}
{{- end }}
{{- toYaml (dict "requests" $r "limits" $r) }}
{{- end }}

{{- define "tritontts.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end }}

{{/* The exported voice's folder name: the .onnx file's name without its suffix. */}}
{{- define "tritontts.voiceName" -}}
{{- if .Values.modelRepository.export.voice }}
{{- base .Values.modelRepository.export.voice | trimSuffix ".onnx" }}
{{- else }}en_US-joe-medium{{ end }}
{{- end }}
