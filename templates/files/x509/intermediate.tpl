{
	"subject": {{ toJson .Subject }},
	"keyUsage": ["certSign", "crlSign"],
	"basicConstraints": {
		"isCA": true,
		"maxPathLen": 0
	},
{{- if .Insecure.User.crlURL }}
	"crlDistributionPoints": [{{ toJson .Insecure.User.crlURL }}],
{{- end }}
	"signatureAlgorithm": {{ toJson .Insecure.User.signatureAlgorithm }}
}
