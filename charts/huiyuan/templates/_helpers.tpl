{{- define "huiyuan.name" -}}huiyuan{{- end -}}

{{- define "huiyuan.fullname" -}}
{{- if contains "huiyuan" .Release.Name -}}{{ .Release.Name | trunc 53 | trimSuffix "-" }}{{- else -}}{{ printf "%s-huiyuan" .Release.Name | trunc 53 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "huiyuan.labels" -}}
app.kubernetes.io/name: huiyuan
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "huiyuan.selector" -}}
app.kubernetes.io/name: huiyuan
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "huiyuan.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{- end -}}

{{- define "huiyuan.secretName" -}}{{ .Values.secrets.existingSecret | default (printf "%s-secrets" (include "huiyuan.fullname" .)) }}{{- end -}}

{{- define "huiyuan.serviceAccount" -}}{{ .Values.serviceAccount.name | default (include "huiyuan.fullname" .) }}{{- end -}}

{{/* Settings every process reads: plain ones from the ConfigMap, secret ones from the Secret. */}}
{{- define "huiyuan.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "huiyuan.fullname" . }}-config
  - secretRef:
      name: {{ include "huiyuan.secretName" . }}
{{- end -}}

{{- define "huiyuan.podSecurityContext" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{- define "huiyuan.containerSecurityContext" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  runAsNonRoot: true
  capabilities:
    drop: ["ALL"]
{{- end -}}

{{/* A writable /tmp on a read-only root file system (gunicorn heartbeats, beat's schedule file). */}}
{{- define "huiyuan.tmpVolume" -}}
volumes:
  - name: tmp
    emptyDir: {}
{{- end -}}
{{- define "huiyuan.tmpMount" -}}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end -}}

{{- define "huiyuan.scheduling" -}}
{{- with .Values.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
