{{- /*
Admin dashboard of pushca serve, on the HTTPS listener: the devices the
endpoint has seen, the certificates it serves and which chain family each
device got at its last handshake. Rendered on the server;
the login form posts the admin token, nothing else is sent.
*/ -}}
{{ define "title" }}pushca dashboard{{ end }}
{{ define "body" -}}
<style>
body { max-width: none; }
table.devices { border-collapse: collapse; width: 100%; font-size: .9em; }
table.devices th, table.devices td { border-bottom: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; }
table.devices td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.low { background: #fff0e0; }
.warn { color: #a33; font-weight: bold; }
.err { background: #fde; border-left: 4px solid #a33; padding: .4em .8em; }
form.inline { display: inline; }
</style>
{{ if .Login -}}
<h1>pushca dashboard</h1>
{{ with .Error }}<p class="err" id="error">{{ . }}</p>{{ end }}
<form method="post" action="login">
<p><label for="token">Admin token (in the state directory, push/admin.token)</label><br>
<input id="token" name="token" type="password" autocomplete="current-password" size="70" required autofocus></p>
<p><button type="submit" id="login">Log in</button></p>
</form>
{{- else -}}
<form class="inline" method="post" action="logout"><button type="submit" id="logout">Log out</button></form>
<h1>pushca dashboard</h1>
<p>Generated {{ .Now }}. <span id="held">{{ .Held }}</span> Ping(s) held now.</p>

<h2>Server certificates</h2>
<table class="facts" id="certs">
{{ range .Certs -}}
<tr><th>Serial {{ .Serial }}</th><td>{{ with .Family }}{{ . }} chain: {{ end }}{{ .Subject }}, issued by {{ .Issuer }}, valid until {{ .NotAfter }}
({{ .DaysLeft }} days left){{ if lt .DaysLeft 30 }} <span class="warn">renew soon</span>{{ end }}</td></tr>
{{ end -}}
</table>

<h2>Devices</h2>
{{ if .Devices -}}
<table class="devices" id="devices">
<thead><tr>
<th>User</th><th>Device</th><th>Type</th><th>Protocol</th><th>Last seen (UTC)</th>
<th>Heartbeat asked</th><th>Pings</th><th>Average heartbeat</th><th>Pings cut early</th><th>Certificate</th><th>Chain</th><th></th>
</tr></thead>
<tbody>
{{ range .Devices -}}
<tr class="device{{ if .Low }} low{{ end }}">
<td class="user">{{ .User }}</td><td class="id">{{ .ID }}</td><td class="type">{{ .Type }}</td><td class="protocol">{{ .Protocol }}</td>
<td class="seen">{{ .LastSeen }}</td>
<td class="n heartbeat">{{ if .Heartbeat }}{{ .Heartbeat }} s{{ end }}</td>
<td class="n pings">{{ .Pings }}</td>
<td class="n average">{{ if .Pings }}{{ .Average }} s{{ end }}</td>
<td class="n cut">{{ .Cut }}</td>
<td class="cert">{{ .Cert }}{{ if .Cert }}{{ if .CertCurrent }} (current){{ else }} (previous){{ end }}{{ end }}</td>
<td class="family">{{ .Family }}</td>
<td class="warning">{{ if .Low }}<span class="warn">average at or below {{ $.Threshold }} s: something on the path cuts idle connections; firewall and NAT idle timeouts should be 15 minutes or more</span>{{ end }}</td>
</tr>
{{ end -}}
</tbody>
</table>
{{- else -}}
<p id="nodevices">No device has connected yet.</p>
{{- end }}
{{- end }}
{{- end }}
