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

{{- define "tritontts.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tritontts.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tritontts.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "tritontts.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: inference
tritontts.io/profile: {{ .Values.profile }}
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
