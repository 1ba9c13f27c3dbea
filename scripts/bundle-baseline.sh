#!/bin/sh
# What an administrator would write without pushca: per user an account CAB
# (gcab), a .mobileconfig and an HTML sheet from heredocs, the root as .crt
# and its fingerprints (openssl), a QR code (qrencode) and a sha256sum
# manifest. It is the yardstick of `make bench-bundle`, not a tool: it does
# no escaping, so it is only safe for the plain names the benchmark makes.
#
# Usage: scripts/bundle-baseline.sh ROOT_PEM USERS_CSV OUT_DIR SERVER BASE_URL
set -eu
root=$1 users=$2 out=$3 server=$4 base=$5
mkdir -p "$out/shared" "$out/users"
openssl x509 -in "$root" -outform DER -out "$out/shared/root.crt"
b64=$(openssl x509 -in "$root" -outform DER | base64 -w0)
sha1=$(openssl x509 -in "$root" -noout -fingerprint -sha1 | cut -d= -f2)
cat > "$out/shared/_setup.xml" <<EOF
<wap-provisioningdoc><characteristic type="CertificateStore"><characteristic type="ROOT"><characteristic type="$(echo "$sha1" | tr -d :)"><parm name="EncodedCertificate" value="$b64"/></characteristic></characteristic></characteristic></wap-provisioningdoc>
EOF
gcab -c -n "$out/shared/root.cab" "$out/shared/_setup.xml"
rm "$out/shared/_setup.xml"
tail -n +2 "$users" | while IFS=, read -r user domain; do
	d="$out/users/$user"
	mkdir -p "$d"
	cat > "$d/_setup.xml" <<EOF
<wap-provisioningdoc><characteristic type="Sync"><characteristic type="Settings"><parm name="SyncWhenRoaming" value="1"/></characteristic><characteristic type="Connection"><parm name="User" value="$user"/><parm name="Domain" value="$domain"/><parm name="Server" value="$server"/><parm name="AllowSSLOption" value="0"/></characteristic></characteristic></wap-provisioningdoc>
EOF
	gcab -c -n "$d/account.cab" "$d/_setup.xml"
	rm "$d/_setup.xml"
	cat > "$d/exchange.mobileconfig" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict><key>PayloadContent</key><array>
<dict><key>PayloadType</key><string>com.apple.security.root</string><key>PayloadContent</key><data>$b64</data></dict>
<dict><key>PayloadType</key><string>com.apple.eas.account</string><key>Host</key><string>$server</string><key>UserName</key><string>$domain\\$user</string></dict>
</array><key>PayloadType</key><string>Configuration</string></dict></plist>
EOF
	sha256=$(openssl x509 -in "$root" -noout -fingerprint -sha256 | cut -d= -f2)
	url="$base/u/$(openssl rand -hex 16)/"
	qrencode -s 4 -o "$d/qr.png" "$url"
	cat > "$d/index.html" <<EOF
<!doctype html><html><head><meta charset="utf-8"><title>Mail setup for $user</title></head><body>
<h1>Mail setup for $user</h1><p>Server $server, user $user, domain $domain</p>
<p>SHA-256 $sha256<br>SHA-1 $sha1</p><img src="qr.png"><p>$url</p>
<p><a href="../../shared/root.cab">root.cab</a> <a href="account.cab">account.cab</a>
<a href="exchange.mobileconfig">exchange.mobileconfig</a> <a href="../../shared/root.crt">root.crt</a></p></body></html>
EOF
done
(cd "$out" && find . -type f ! -name manifest.sha256 -print0 | xargs -0 sha256sum > manifest.sha256)
