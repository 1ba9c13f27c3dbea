package testtool

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
)

// CABSetup tests a provisioning cabinet with cabextract and returns its
// _setup.xml, which xmllint has parsed.
func CABSetup(t testing.TB, cabFile string) []byte {
	t.Helper()
	MustRun(t, nil, "cabextract", "-q", "-t", cabFile)
	doc := MustRun(t, nil, "cabextract", "-q", "-p", "-F", "_setup.xml", cabFile)
	MustRun(t, doc, "xmllint", "--noout", "-")
	return doc
}

// XPath asks xmllint for the string value of expr in doc.
func XPath(t testing.TB, doc []byte, expr string) string {
	t.Helper()
	// xmllint ends its answer with one newline of its own.
	return strings.TrimSuffix(string(MustRun(t, doc, "xmllint", "--xpath", "string("+expr+")", "-")), "\n")
}

// CABCertificates reads a provisioning CAB with cabextract and returns
// what xmllint finds in its CertificateStore: the ROOT entry's certificate
// (DER) and the CA store's thumbprints.
func CABCertificates(t testing.TB, cabFile string) (rootDER []byte, caThumbs []string) {
	t.Helper()
	doc := CABSetup(t, cabFile)
	rootDER, err := base64.StdEncoding.DecodeString(XPath(t, doc, `//characteristic[@type="ROOT"]/characteristic/parm[@name="EncodedCertificate"]/@value`))
	if err != nil {
		t.Fatalf("%s: ROOT EncodedCertificate: %v", cabFile, err)
	}
	n, _ := strconv.Atoi(XPath(t, doc, `count(//characteristic[@type="CA"]/characteristic)`))
	for i := 1; i <= n; i++ {
		caThumbs = append(caThumbs, XPath(t, doc, `//characteristic[@type="CA"]/characteristic[`+strconv.Itoa(i)+`]/@type`))
	}
	return rootDER, caThumbs
}

// MobileconfigRoot is the DER of a .mobileconfig's root payload, as
// Python's plistlib reads it.
func MobileconfigRoot(t testing.TB, file string) []byte {
	t.Helper()
	return MustRun(t, nil, "python3", "-c", `import plistlib, sys
pl = plistlib.load(open(sys.argv[1], "rb"))
sys.stdout.buffer.write([p for p in pl["PayloadContent"] if p["PayloadType"] == "com.apple.security.root"][0]["PayloadContent"])`, file)
}

// SHA1Thumbprint is a PEM certificate's SHA-1 fingerprint as openssl reads
// it, in the form the CertificateStore CSP names certificates: 40 hex
// digits, no separators.
func SHA1Thumbprint(t testing.TB, certFile string) string {
	t.Helper()
	out := string(MustRun(t, nil, "openssl", "x509", "-noout", "-fingerprint", "-sha1", "-in", certFile))
	_, fp, _ := strings.Cut(strings.TrimSpace(out), "=")
	return strings.ReplaceAll(fp, ":", "")
}
