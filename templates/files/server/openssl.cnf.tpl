# OpenSSL configuration for HAProxy serving the SHA-1 chain of {{ .Host }}, from
# pushca. HAProxy loads certificates before it applies its cipher settings,
# so @SECLEVEL=0 must already be OpenSSL's default: start HAProxy with
#     OPENSSL_CONF={{ .OpenSSLConf }}
# (systemctl edit haproxy: [Service] Environment=OPENSSL_CONF={{ .OpenSSLConf }}).
# Without it HAProxy fails to load the legacy certificate ("ca md too weak").
openssl_conf = openssl_init

[openssl_init]
ssl_conf = ssl_sect

[ssl_sect]
system_default = system_default_sect

[system_default_sect]
CipherString = DEFAULT:@SECLEVEL=0
