{{/* Names and labels shared by every template. */}}

{{- define "livecdn.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "livecdn.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: include "livecdn.selector" (list . "edge") */}}
{{- define "livecdn.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ $root.Chart.Name }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "livecdn.gossipSecret" -}}
{{- .Values.gossip.existingSecret | default (printf "%s-gossip" (include "livecdn.fullname" .)) -}}
{{- end -}}

{{- define "livecdn.originURL" -}}
http://{{ include "livecdn.fullname" . }}-origin:8080
{{- end -}}

{{/* The gossip seed: the headless Service resolving to every edge and shield pod. */}}
{{- define "livecdn.join" -}}
{{ include "livecdn.fullname" . }}-gossip.{{ .Release.Namespace }}.svc.cluster.local:{{ .Values.gossip.port }}
{{- end -}}

{{- define "livecdn.image" -}}
{{- $img := index . 0 -}}
{{- printf "%s:%s" $img.repository ($img.tag | default (index . 1)) -}}
{{- end -}}

{{/* Env of every cluster member: pod identity and the gossip key. */}}
{{- define "livecdn.memberEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: LIVECDN_GOSSIP_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "livecdn.gossipSecret" . }}
      key: {{ .Values.gossip.secretKey }}
- name: LIVECDN_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
- name: LIVECDN_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- if .Values.adminTokenSecret }}
- name: LIVECDN_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.adminTokenSecret }}
      key: admin-token
{{- end }}
{{- end -}}

{{- define "livecdn.podSecurity" -}}
runAsNonRoot: true
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "livecdn.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Args of a cluster member: include "livecdn.memberArgs" (list . "edge" .Values.edge) */}}
{{- define "livecdn.memberArgs" -}}
{{- $root := index . 0 -}}
{{- $role := index . 1 -}}
{{- $c := index . 2 -}}
- --http=:8081
- --role={{ $role }}
- --origin={{ include "livecdn.originURL" $root }}
- --join={{ include "livecdn.join" $root }}
- --gossip=:{{ $root.Values.gossip.port }}
- --node-name=$(POD_NAME)
- --advertise=http://$(POD_IP):8081
- --cache-size={{ $c.cacheSize }}
- --drain={{ $c.drain }}
{{- with $c.zone }}
- --zone={{ . }}
{{- end }}
{{- with $c.weight }}
- --weight={{ . }}
{{- end }}
{{- range $c.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Ports and probes of a cluster member's container. */}}
{{- define "livecdn.memberPorts" -}}
ports:
  - {name: http, containerPort: 8081, protocol: TCP}
  - {name: gossip-tcp, containerPort: {{ .Values.gossip.port }}, protocol: TCP}
  - {name: gossip-udp, containerPort: {{ .Values.gossip.port }}, protocol: UDP}
# Ready once joined and able to serve; a draining node turns unready first,
# so Services stop sending it viewers while it finishes its responses.
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 2
  failureThreshold: 2
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 10
  failureThreshold: 3
{{- end -}}
