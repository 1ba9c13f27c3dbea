{{- /*
One user's enrollment sheet: printed by `pushca bundle` and served at the
user's private link. Links are relative to wherever the sheet is (bundle
folder, zip, or web page), given by the caller.
*/ -}}
{{ define "title" }}Mail setup for {{ .Who }}{{ end }}
{{ define "body" -}}
{{ if .QR }}<div class="qr"><img alt="QR code of your enrollment link" src="{{ .QR }}"><br><span id="url">{{ .URL }}</span>{{ if .Expires }}<br>link valid until {{ .Expires }}{{ end }}</div>{{ end }}
<h1>Mail setup for <span id="who">{{ .Who }}</span></h1>
<table class="facts">
<tr><th>Server</th><td id="server">{{ .Server }}</td></tr>
<tr><th>User name</th><td id="user">{{ .User }}</td></tr>
{{ if .Domain }}<tr><th>Domain</th><td id="domain">{{ .Domain }}</td></tr>{{ end }}
{{ if .Email }}<tr><th>E-mail</th><td id="email">{{ .Email }}</td></tr>{{ end }}
<tr><th>Password</th><td>your usual network password; it is in no file here, the phone asks for it</td></tr>
</table>
<p>Your mail server uses a certificate from your organisation's own certificate authority. A phone
trusts it only after its root certificate is installed, so install the root <em>first</em>, then the
account. {{ if .QR }}Scan the QR code with the phone to open these steps and downloads on it.{{ end }}</p>
{{ template "fingerprints" . }}

{{ if .WM }}
<h2>Windows Mobile ({{ .WMProfiles }})</h2>
<ol>
{{ if .Links.RootCAB }}<li>Copy <a class="dl" href="{{ .Links.RootCAB }}">{{ .Links.RootCABName }}</a> to the phone (ActiveSync/Windows Mobile Device Center, storage card, or download in Internet Explorer Mobile) and tap it.
It puts the root into the <b>ROOT</b> store{{ if .Intermediates }} and the intermediate into the <b>CA</b> store{{ end }}: the phone checks the server against these stores, and the server's own certificate does not belong there.</li>{{ end }}
{{ if .Links.AccountCAB }}<li>Tap <a class="dl" href="{{ .Links.AccountCAB }}">{{ .Links.AccountCABName }}</a>{{ if .Combined }} (it installs the root certificate too){{ end }}. It creates the ActiveSync account for server {{ .Server }} and user {{ .User }}{{ if .Domain }}, domain {{ .Domain }}{{ end }}, with SSL on.</li>{{ end }}
<li>Open ActiveSync and start a sync; enter your password when asked.</li>
</ol>
<p class="note">Pocket PCs install these unsigned files. Phone editions and locked Smartphones may refuse unsigned
provisioning files; a signature only helps when the signing certificate chains to one the phone already
trusts for code (its SPC store). Error 0x80072F0D means the root is not installed.</p>
{{ end }}

{{ if .IOS }}
<h2>iPhone and iPad</h2>
<ol>
<li>Open <a class="dl" href="{{ .Links.Mobileconfig }}">{{ .Links.MobileconfigName }}</a> in Safari and allow the download.</li>
<li>Settings &gt; General &gt; VPN &amp; Device Management: tap the profile and Install. It installs the root certificate and the Exchange account; the password is asked during installation or at first sync.</li>
<li>Settings &gt; General &gt; About &gt; Certificate Trust Settings: switch on full trust for the root. iOS does not trust a root installed by a profile for HTTPS until you do this.</li>
</ol>
{{ end }}

{{ if .Android }}
<h2>Android</h2>
<ol>
<li>Download <a class="dl" href="{{ .Links.RootCRT }}">{{ .Links.RootCRTName }}</a>.</li>
<li>Settings &gt; Security &gt; Encryption &amp; credentials &gt; Install a certificate &gt; <b>CA certificate</b>; pick the file and confirm with your screen lock. It goes into the user's trusted credentials: since Android 11 no app may install a CA certificate, so this is the only way.</li>
<li>Add an Exchange account in your mail app: server {{ .Server }}, user name {{ .User }}{{ if .Domain }}, domain {{ .Domain }}{{ end }}, SSL on. The app asks for your password.</li>
</ol>
{{ end }}
{{- end }}
