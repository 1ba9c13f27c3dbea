{{- /*
An Apple configuration profile: the root as com.apple.security.root and,
when an account is given, com.apple.eas.account. There is no Password key
and no field to fill one: iOS prompts for it. Every string goes through
plist, which escapes XML metacharacters and keeps UTF-8.
*/ -}}
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>PayloadContent</key>
	<array>
		<dict>
			<key>PayloadCertificateFileName</key>
			<string>{{ plist .Root.FileName }}</string>
			<key>PayloadContent</key>
			<data>{{ .Root.Data }}</data>
			<key>PayloadDescription</key>
			<string>{{ plist .Root.Description }}</string>
			<key>PayloadDisplayName</key>
			<string>{{ plist .Root.DisplayName }}</string>
			<key>PayloadIdentifier</key>
			<string>{{ plist .Root.Identifier }}</string>
			<key>PayloadType</key>
			<string>com.apple.security.root</string>
			<key>PayloadUUID</key>
			<string>{{ .Root.UUID }}</string>
			<key>PayloadVersion</key>
			<integer>1</integer>
		</dict>
{{- with .EAS }}
		<dict>
{{- if .Email }}
			<key>EmailAddress</key>
			<string>{{ plist .Email }}</string>
{{- end }}
			<key>Host</key>
			<string>{{ plist .Host }}</string>
			<key>PayloadDescription</key>
			<string>{{ plist .Description }}</string>
			<key>PayloadDisplayName</key>
			<string>{{ plist .DisplayName }}</string>
			<key>PayloadIdentifier</key>
			<string>{{ plist .Identifier }}</string>
			<key>PayloadType</key>
			<string>com.apple.eas.account</string>
			<key>PayloadUUID</key>
			<string>{{ .UUID }}</string>
			<key>PayloadVersion</key>
			<integer>1</integer>
			<key>SSL</key>
			<true/>
			<key>UserName</key>
			<string>{{ plist .UserName }}</string>
		</dict>
{{- end }}
	</array>
	<key>PayloadDescription</key>
	<string>{{ plist .Description }}</string>
	<key>PayloadDisplayName</key>
	<string>{{ plist .DisplayName }}</string>
	<key>PayloadIdentifier</key>
	<string>{{ plist .Identifier }}</string>
{{- if .Organization }}
	<key>PayloadOrganization</key>
	<string>{{ plist .Organization }}</string>
{{- end }}
	<key>PayloadType</key>
	<string>Configuration</string>
	<key>PayloadUUID</key>
	<string>{{ .UUID }}</string>
	<key>PayloadVersion</key>
	<integer>1</integer>
</dict>
</plist>
