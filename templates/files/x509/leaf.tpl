{{- /* The family's data (see ca.leafData) is top-level: step-ca takes it
from its configuration, never from a token, so a token cannot change it. */ -}}
{{- $k := .Insecure.CR.PublicKey }}
{{- if typeIs "*rsa.PublicKey" $k }}
	{{- if lt $k.N.BitLen (int .minRSABits) }}
		{{- fail (printf "RSA key of %d bits; the %s chain family needs at least %d" $k.N.BitLen .family (int .minRSABits)) }}
	{{- end }}
	{{- if and (gt (int .maxRSABits) 0) (gt $k.N.BitLen (int .maxRSABits)) }}
		{{- fail (printf "RSA key of %d bits; the %s chain family's devices are known to work only with %d-bit keys" $k.N.BitLen .family (int .maxRSABits)) }}
	{{- end }}
{{- else if typeIs "*ecdsa.PublicKey" $k }}
	{{- if not .allowEC }}
		{{- fail (printf "ECDSA key; the %s chain family's devices support RSA keys only" .family) }}
	{{- end }}
{{- else }}
	{{- fail (printf "unsupported key type; the %s chain family signs RSA%s keys" .family (ternary " and ECDSA" "" .allowEC)) }}
{{- end }}
{{- if not .wildcards }}
	{{- range .SANs }}
		{{- if hasPrefix "*" .Value }}
			{{- fail (printf "wildcard name %s; the %s chain family's devices match exact names only" .Value $.family) }}
		{{- end }}
	{{- end }}
	{{- if hasPrefix "*" .Subject.CommonName }}
		{{- fail (printf "wildcard name %s; the %s chain family's devices match exact names only" .Subject.CommonName .family) }}
	{{- end }}
{{- end }}
{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }},
{{- if typeIs "*rsa.PublicKey" $k }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth"],
{{- if .crlURL }}
	"crlDistributionPoints": [{{ toJson .crlURL }}],
{{- end }}
	"signatureAlgorithm": {{ toJson .signatureAlgorithm }}
}
