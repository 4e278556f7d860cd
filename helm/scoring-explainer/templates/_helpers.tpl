{{- define "scoring-explainer.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "scoring-explainer.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "scoring-explainer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scoring-explainer.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "scoring-explainer.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "scoring-explainer.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "scoring-explainer.secretName" -}}
{{- default (include "scoring-explainer.fullname" .) .Values.apiKey.existingSecret -}}
{{- end -}}

{{- define "scoring-explainer.claimName" -}}
{{- default (include "scoring-explainer.fullname" .) .Values.artifact.pvc.existingClaim -}}
{{- end -}}

{{- define "scoring-explainer.artifactPath" -}}
{{- if eq .Values.artifact.source "image" -}}
{{- .Values.artifact.path -}}
{{- else -}}
{{- .Values.artifact.mountPath -}}
{{- end -}}
{{- end -}}

{{- define "scoring-explainer.storeSqlite" -}}
{{- if and .Values.store.enabled (not .Values.store.databaseUrlSecret) -}}true{{- end -}}
{{- end -}}

{{- define "scoring-explainer.storeClaimName" -}}
{{- default (printf "%s-store" (include "scoring-explainer.fullname" .)) .Values.store.persistence.existingClaim -}}
{{- end -}}

{{- define "scoring-explainer.trustedKeyPath" -}}
{{- if .Values.signing.enabled -}}
{{- printf "/etc/scoring/trusted-keys/%s" .Values.signing.key -}}
{{- end -}}
{{- end -}}

{{- define "scoring-explainer.trustedKeysConfigMap" -}}
{{- default (printf "%s-trusted-keys" (include "scoring-explainer.fullname" .)) .Values.signing.existingConfigMap -}}
{{- end -}}
