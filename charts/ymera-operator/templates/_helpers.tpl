{{/*
Chart name, truncated to the 63 characters a label value allows.
*/}}
{{- define "ymera-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name: <release>-<chart>, or the release name when it already contains the
chart name. Truncated to 63 characters (DNS label).
*/}}
{{- define "ymera-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
chart label value: <name>-<version>.
*/}}
{{- define "ymera-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Selector labels: stable for the life of a release (Deployment selectors are
immutable), so no version in here.
*/}}
{{- define "ymera-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ymera-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Standard labels on every object.
*/}}
{{- define "ymera-operator.labels" -}}
helm.sh/chart: {{ include "ymera-operator.chart" . }}
{{ include "ymera-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: ymera
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
ServiceAccount the operator runs as.
*/}}
{{- define "ymera-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ymera-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Operator image reference: repository@digest, else repository:tag (tag
defaults to the chart's appVersion).
*/}}
{{- define "ymera-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/*
Name of the leader-election Lease (in the release namespace).
*/}}
{{- define "ymera-operator.leaseName" -}}
{{- default (include "ymera-operator.fullname" .) .Values.leaderElection.leaseName -}}
{{- end -}}

{{/*
Cross-field checks the JSON schema cannot express with a readable message.
*/}}
{{- define "ymera-operator.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.leaderElection.enabled) -}}
{{- fail (printf "replicas=%d needs leaderElection.enabled=true: without it every replica reconciles at once" (int .Values.replicas)) -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled (not .Values.metrics.service.enabled) -}}
{{- fail "serviceMonitor.enabled=true needs metrics.service.enabled=true (the ServiceMonitor scrapes that Service)" -}}
{{- end -}}
{{- end -}}
