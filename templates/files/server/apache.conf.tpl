# TLS for {{ .Host }} from pushca (chain families {{ .Families }}).
# Include this file inside the <VirtualHost *:443> of the host (mod_ssl):
#     Include {{ .Self }}
# SSLProtocol and SSLCipherSuite take effect in the first virtual host of an
# address and port. Re-export after each renewal (pushca cert renew --exec)
# and reload Apache.
SSLEngine on
{{- range .Chains }}
# {{ .Family }}: {{ .Desc }}
SSLCertificateFile    {{ .Chain }}
SSLCertificateKeyFile {{ .Key }}
{{- end }}
{{- if gt (len .Chains) 1 }}
# mod_ssl serves each client the certificate whose key type the negotiated
# suite needs: two certificates must differ in key type.
{{- end }}
{{- if .Legacy }}
# TLS 1.1 only because mod_ssl allows no gap between the versions it offers.
{{- end }}
SSLProtocol -all{{ range .Protocols }} +{{ . }}{{ end }}
{{- if .Legacy }}
# @SECLEVEL=0: without it OpenSSL 3 refuses the SHA-1 chain ("ca md too weak")
# and TLS 1.0. OpenSSL 3.0 (Debian 12) offers neither 3DES nor RC4 in TLS: a
# device whose suites are only those (pushca profiles) cannot connect through it.
{{- end }}
SSLCipherSuite {{ .Ciphers }}
{{- if gt (len .Chains) 1 }}
# The server's order, so a client that can take either chain gets the modern one.
{{- end }}
SSLHonorCipherOrder on
