{{/* The name of every object: <release>-headcount, or the release name if it already says headcount. */}}
{{- define "headcount.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "headcount.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "headcount.labels" -}}
{{ include "headcount.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* The image by digest: repository@sha256:..., never a tag. */}}
{{- define "headcount.image" -}}
{{- $digest := required "image.digest is required: the chart pulls the image by digest only; give the sha256:... that scripts/dist-oci printed" .Values.image.digest -}}
{{- if not (regexMatch "^sha256:[0-9a-f]{64}$" $digest) -}}
{{- fail (printf "image.digest %q is not a digest: give sha256: and 64 hex digits, as scripts/dist-oci printed" $digest) -}}
{{- end -}}
{{- printf "%s@%s" .Values.image.repository $digest -}}
{{- end -}}

{{/* The labels of HAProxy's pods: networkPolicy.haproxy.podLabels, or the HAProxy chart's. */}}
{{- define "headcount.haproxyPodLabels" -}}
{{- toYaml (.Values.networkPolicy.haproxy.podLabels | default (dict "app.kubernetes.io/name" "haproxy")) -}}
{{- end -}}
