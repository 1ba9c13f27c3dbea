{
	"subject": {{ toJson .Subject }},
	"keyUsage": ["digitalSignature"],
	"extKeyUsage": ["codeSigning"],
	"signatureAlgorithm": {{ toJson .Insecure.User.signatureAlgorithm }}
}
