{{- /*
Shared frame of every HTML page and sheet: inline CSS only (no third-party
assets, pages must work before the device trusts anything), print-friendly.
Each page defines "title" and "body". Everything is escaped by html/template.
*/ -}}
{{ define "layout" -}}
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ template "title" . }}</title>
<style>
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 46em; margin: 1em auto; padding: 0 1em; color: #111; line-height: 1.4; }
h1 { font-size: 1.5em; margin-bottom: .2em; overflow-wrap: anywhere; }
h2 { font-size: 1.15em; border-bottom: 1px solid #999; margin-top: 1.4em; }
table.facts th { text-align: left; padding-right: 1em; vertical-align: top; white-space: nowrap; }
/* break-word, unlike anywhere, keeps a cell at least as wide as its longest
   word: a table that does not fit beside the QR code moves below it rather
   than breaking names mid-word. Fingerprints are meant to break anywhere. */
table.facts td { overflow-wrap: break-word; }
.fp, table.facts td.fp { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: .85em; overflow-wrap: anywhere; }
.qr { float: right; margin: 0 0 1em 1em; text-align: center; font-size: .75em; max-width: 14em; overflow-wrap: anywhere; }
.qr img { width: 12em; height: 12em; image-rendering: pixelated; }
/* A phone: the QR code above the text instead of beside it, and each fact's
   name above its value, so a long address gets the whole width. */
@media (max-width: 40em) { .qr { float: none; margin: 0 auto 1em; } }
@media (max-width: 30em) {
  table.facts, table.facts tbody, table.facts tr, table.facts th, table.facts td { display: block; }
  table.facts th { padding: .5em 0 0; }
}
.note { background: #f3f3f3; border-left: 4px solid #888; padding: .4em .8em; }
a.dl { display: inline-block; border: 1px solid #036; border-radius: 4px; padding: .3em .7em; margin: .2em 0; color: #036; text-decoration: none; }
@media print { a.dl { border: none; padding: 0; } .noprint { display: none; } h2 { page-break-after: avoid; } }
</style>
</head>
<body>
{{ template "body" . }}
</body>
</html>
{{ end }}

{{ define "fingerprints" -}}
<table class="facts">
<tr><th>Root certificate</th><td>{{ .RootName }} (valid until {{ .NotAfter }})</td></tr>
<tr><th>SHA-256</th><td class="fp" id="sha256">{{ .SHA256 }}</td></tr>
<tr><th>SHA-1</th><td class="fp" id="sha1">{{ .SHA1 }}</td></tr>
</table>
<p class="note">Before installing, check that the fingerprint your device shows matches one of these,
read from a second channel (this printed sheet, your IT department's phone line). If it differs, stop:
the file is not your organisation's.</p>
{{- end }}
