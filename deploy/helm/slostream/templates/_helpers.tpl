{{/* Names and labels every object shares. */}}
{{- define "slostream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "slostream.fullname" -}}
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

{{- define "slostream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "slostream.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ .Values.role }}
{{- end -}}

{{- define "slostream.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "slostream.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Where the pod reads its config, credentials and state. */}}
{{- define "slostream.configDir" -}}/etc/slostream{{- end -}}
{{- define "slostream.secretDir" -}}/etc/slostream/kafka-secret{{- end -}}
{{- define "slostream.stateDir" -}}/var/lib/slostream{{- end -}}

{{/*
The config file the pod runs with: .Values.config (a mapping, or a file's text) or the example
SLOs, with the listen address and state directory this chart serves and mounts.
*/}}
{{- define "slostream.config" -}}
{{- $config := .Values.config -}}
{{- if kindIs "string" $config -}}
{{- $config = fromYaml $config -}}
{{- if hasKey $config "Error" -}}
{{- fail (printf "config: not YAML: %s" $config.Error) -}}
{{- end -}}
{{- end -}}
{{- if not $config -}}
{{- $config = .Files.Get "files/config.yaml" | fromYaml -}}
{{- end -}}
{{- $config = deepCopy $config -}}
{{- $exporter := deepCopy (default (dict) $config.exporter) -}}
{{- $_ := set $exporter "listen" (printf "0.0.0.0:%v" .Values.service.port) -}}
{{- $state := deepCopy (default (dict) $config.state) -}}
{{- $_ := set $state "dir" (include "slostream.stateDir" .) -}}
{{- $_ := set $config "exporter" $exporter -}}
{{- $_ := set $config "state" $state -}}
{{- toYaml $config -}}
{{- end -}}
