# TLS for {{ .Host }} from pushca (chain families {{ .Families }}).
# Load this file before your own (haproxy -f {{ .Self }} -f haproxy.cfg), or
# copy its global settings into yours, and bind the frontend with the list
# of certificates:
#     bind :443 ssl crt-list {{ .CrtList }}
# Re-export after each renewal (pushca cert renew --exec) and reload HAProxy.
{{- if .OpenSSLConf }}
# Start HAProxy with OPENSSL_CONF={{ .OpenSSLConf }}: see that file.
{{- end }}
{{- if gt (len .Chains) 1 }}
# The first certificate of the list answers clients that send no server name
# (old clients may send none, so it is the legacy one); HAProxy gives a client
# that names the host the certificate whose key type it supports.
{{- end }}
global
{{- if .Legacy }}
    # @SECLEVEL=0: without it OpenSSL 3 refuses the SHA-1 chain ("ca md too
    # weak") and TLS 1.0. OpenSSL 3.0 (Debian 12) offers neither 3DES nor RC4
    # in TLS: a device whose suites are only those (pushca profiles) cannot
    # connect through it. HAProxy allows no gap between the versions it
    # offers, so TLS 1.1 comes with TLS 1.0.
{{- end }}
    ssl-default-bind-ciphers {{ .Ciphers }}
    ssl-default-bind-options {{ .HAProxyVersions }}
