{{- /*
A Windows Mobile wap-provisioningdoc: one tree of characteristics and parms.
Every CSP document pushca makes goes through this one template. No XML
declaration and no byte-order mark: UTF-8 is XML's default, and the content is
ASCII because attr writes non-ASCII as character references.
*/ -}}
{{- define "characteristic" }}
{{ .Indent }}<characteristic type="{{ attr .Type }}">
{{- range .Parms }}
{{ $.Indent }}  <parm name="{{ attr .Name }}" value="{{ attr .Value }}"/>
{{- end }}
{{- range .Children }}{{ template "characteristic" . }}{{ end }}
{{ .Indent }}</characteristic>
{{- end -}}
<wap-provisioningdoc>
{{- range . }}{{ template "characteristic" . }}{{ end }}
</wap-provisioningdoc>
