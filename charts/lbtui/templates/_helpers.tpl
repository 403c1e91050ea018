{{/* lbtui's chart helpers. */}}

{{- define "lbtui.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object; app/component are MetalLB's, which --ml-labels and the console
select on. */}}
{{- define "lbtui.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "lbtui.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* MetalLB's log levels onto lbtui's --log-level debug|info|warn|error. */}}
{{- define "lbtui.logLevel" -}}
{{- $levels := dict "all" "debug" "debug" "debug" "info" "info" "warn" "warn" "error" "error" "none" "error" -}}
{{- if not (hasKey $levels .) -}}
{{- fail (printf "logLevel %q: must be one of all, debug, info, warn, error, none" .) -}}
{{- end -}}
{{- get $levels . -}}
{{- end -}}

{{- define "lbtui.image" -}}
{{ .repository }}:{{ .tag | default "latest" }}
{{- end -}}

{{/* A file of examples/deploy (charts/lbtui/files links to it) in the release's namespace. */}}
{{- define "lbtui.deployFile" -}}
{{- $root := index . 0 -}}
{{- $root.Files.Get (index . 1) | replace "namespace: metallb-system" (printf "namespace: %s" $root.Release.Namespace) -}}
{{- end -}}

{{- define "lbtui.probe" -}}
{{- $probe := index . 0 -}}
httpGet:
  path: {{ index . 1 }}
  port: {{ $probe.port }}
{{- range $key := list "failureThreshold" "initialDelaySeconds" "periodSeconds" "successThreshold" "timeoutSeconds" }}
{{- if hasKey $probe $key }}
{{ $key }}: {{ get $probe $key }}
{{- end }}
{{- end }}
{{- end -}}
