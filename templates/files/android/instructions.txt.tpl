Installing the {{ .Name }} root certificate on Android
File: {{ .File }}
Check these fingerprints against the ones your IT department gave you
before you install; do not install if they differ.
  SHA-256: {{ .SHA256 }}
  SHA-1:   {{ .SHA1 }}
Valid until: {{ .NotAfter }}

1. Copy {{ .File }} to the phone (download it, or from a computer over USB).
2. Open Settings > Security > Encryption & credentials > Install a certificate
   > CA certificate. (Names vary a little by maker: search Settings for
   "CA certificate" if the path differs.)
3. Accept the warning, pick {{ .File }}, and confirm with your screen lock.
4. Check it under Settings > Security > Encryption & credentials >
   Trusted credentials > User.

Since Android 11 no app can install a CA certificate for you: these steps
are the only way. Then add the Exchange account in your mail app; it will
ask for your password.
