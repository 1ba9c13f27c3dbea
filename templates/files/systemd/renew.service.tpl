# {{ .Name }}.service, from `pushca cert timer`. Started by {{ .Name }}.timer; run
# it now with `systemctl start {{ .Name }}.service`, read it with
# `journalctl -u {{ .Name }}`. It fails (systemctl --failed) when a renewal or
# the deploy hook fails; the hook's exit code is the service's.
[Unit]
Description=Renew the pushca server certificates that expire within {{ .Within }}
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
# Keys written by the renewal and the hook stay private.
UMask=0077
Environment={{ .DirEnv }}
Environment={{ .PasswordEnv }}
ExecStart={{ .ExecStart }}
