# {{ .Name }}.timer, from `pushca cert timer`. Enable with
# `systemctl daemon-reload && systemctl enable --now {{ .Name }}.timer`.
[Unit]
Description=Renew the pushca server certificates that expire soon

[Timer]
OnCalendar={{ .OnCalendar }}
# Spread the CA's work when several machines share a schedule.
RandomizedDelaySec=1h
# Catch up after the machine was off at the scheduled time.
Persistent=true

[Install]
WantedBy=timers.target
