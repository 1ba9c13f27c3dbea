# TLS for {{ .Host }} from pushca (chain families {{ .Families }}).
# Include this file inside the server block that listens with "ssl":
#     include {{ .Self }};
# Re-export after each renewal (pushca cert renew --exec) and reload nginx.
{{- range .Chains }}
# {{ .Family }}: {{ .Desc }}
ssl_certificate     {{ .Chain }};
ssl_certificate_key {{ .Key }};
{{- end }}
{{- if gt (len .Chains) 1 }}
# nginx serves each client the certificate whose key type the negotiated
# suite needs: two certificates must differ in key type.
{{- end }}
ssl_protocols {{ join .Protocols " " }};
{{- if .Legacy }}
# @SECLEVEL=0: without it OpenSSL 3 refuses the SHA-1 chain ("ca md too weak")
# and TLS 1.0. OpenSSL 3.0 (Debian 12) offers neither 3DES nor RC4 in TLS: a
# device whose suites are only those (pushca profiles) cannot connect through it.
{{- end }}
ssl_ciphers {{ .Ciphers }};
{{- if gt (len .Chains) 1 }}
# The server's order, so a client that can take either chain gets the modern one.
{{- end }}
ssl_prefer_server_ciphers on;
