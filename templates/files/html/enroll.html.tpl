{{- /*
Landing page of the plain-HTTP enrollment site: the root for each device
kind, before the device trusts anything. Links are relative, so the page
works behind a reverse proxy with a path prefix.
*/ -}}
{{ define "title" }}Install the mail root certificate{{ end }}
{{ define "body" -}}
<div class="qr"><img alt="QR code of this page" src="qr.png"><br><span id="url">{{ .URL }}</span></div>
<h1>Install the mail root certificate</h1>
<p>Your mail server uses a certificate from your organisation's own certificate authority. Install its
root certificate on the phone first; then set up the mail account (your IT department's sheet or
personal link has the steps and the account file). Mail itself is served over HTTPS only, never from this page.</p>
{{ template "fingerprints" . }}

{{ if .RootCAB }}
<h2>Windows Mobile</h2>
<ol>
<li>Download <a class="dl" id="dl-wm" href="{{ .RootCAB }}">{{ .RootCAB }}</a> in Internet Explorer Mobile (or copy it to the phone) and tap it.
It puts the root into the <b>ROOT</b> store{{ if .Intermediates }} and the intermediate into the <b>CA</b> store{{ end }}, where the phone looks when it checks the server.</li>
<li>Pocket PCs install this unsigned file; phone editions and locked Smartphones may refuse unsigned provisioning files.</li>
</ol>
{{ end }}

{{ if .Mobileconfig }}
<h2>iPhone and iPad</h2>
<ol>
<li>Open <a class="dl" id="dl-ios" href="{{ .Mobileconfig }}">{{ .Mobileconfig }}</a> in Safari and allow the download.</li>
<li>Settings &gt; General &gt; VPN &amp; Device Management: tap the profile and Install.</li>
<li>Settings &gt; General &gt; About &gt; Certificate Trust Settings: switch on full trust for the root. iOS does not trust a root installed by a profile for HTTPS until you do this.</li>
</ol>
{{ end }}

{{ if .RootCRT }}
<h2>Android</h2>
<ol>
<li>Download <a class="dl" id="dl-android" href="{{ .RootCRT }}">{{ .RootCRT }}</a>.</li>
<li>Settings &gt; Security &gt; Encryption &amp; credentials &gt; Install a certificate &gt; <b>CA certificate</b>; pick the file and confirm with your screen lock. Since Android 11 this is the only way to install a CA certificate.</li>
</ol>
{{ end }}
{{- end }}
