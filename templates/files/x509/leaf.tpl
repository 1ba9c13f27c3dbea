{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }},
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth"],
{{- if .Insecure.User.crlURL }}
	"crlDistributionPoints": [{{ toJson .Insecure.User.crlURL }}],
{{- end }}
	"signatureAlgorithm": {{ toJson .Insecure.User.signatureAlgorithm }}
}
