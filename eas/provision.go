package eas

// Policy types of [MS-ASPROV]: 2.5 devices take a WAP provisioning document
// as text, 12.0 and later the EASProvisionDoc element.
const (
	PolicyTypeWAP   = "MS-WAP-Provisioning-XML"
	PolicyTypeWBXML = "MS-EAS-Provisioning-WBXML"
)

// PolicyTypeFor returns the policy type a device of version speaks.
func PolicyTypeFor(version string) string {
	if version == "2.5" {
		return PolicyTypeWAP
	}
	return PolicyTypeWBXML
}

// ProvisionStatus is the top-level Provision:Status.
type ProvisionStatus int

const (
	ProvisionOK            ProvisionStatus = 1
	ProvisionProtocolError ProvisionStatus = 2
	ProvisionServerError   ProvisionStatus = 3
)

var provisionStatusNames = map[int]string{1: "success", 2: "protocol error", 3: "server error"}

func (s ProvisionStatus) String() string { return statusText(provisionStatusNames, int(s)) }

// PolicyStatus is Policy/Status: in a response how the policy was found, in
// a phase 2 request whether the device applied it.
type PolicyStatus int

const (
	PolicyOK          PolicyStatus = 1
	PolicyNone        PolicyStatus = 2 // no policy for this client
	PolicyUnknownType PolicyStatus = 3
	PolicyCorrupt     PolicyStatus = 4 // policy data on the server is corrupt
	PolicyWrongKey    PolicyStatus = 5 // the acknowledged PolicyKey is not the one sent
)

var policyStatusNames = map[int]string{
	1: "success", 2: "no policy", 3: "unknown policy type", 4: "policy data corrupt",
	5: "wrong policy key",
}

func (s PolicyStatus) String() string { return statusText(policyStatusNames, int(s)) }

// ProvisionRequest is phase 1 (Policies with PolicyType only) or phase 2
// (PolicyType, the temporary PolicyKey, Status) of provisioning. 14.1
// clients add DeviceInformation.
type ProvisionRequest struct {
	DeviceInformation *DeviceInformation `wbxml:"Settings:DeviceInformation>Settings:Set"`
	Policies          []PolicyAck        `wbxml:"Provision:Policies>Provision:Policy"`
}

// PolicyAck is a Policy as the client sends it; PolicyKey comes before
// Status, as [MS-ASPROV] orders it.
type PolicyAck struct {
	PolicyType string       `wbxml:"Provision:PolicyType"`
	PolicyKey  uint32       `wbxml:"Provision:PolicyKey,omitempty"`
	Status     PolicyStatus `wbxml:"Provision:Status,omitempty"`
}

func (*ProvisionRequest) rootTag() string { return "Provision:Provision" }

// ParseProvisionRequest decodes a Provision request.
func ParseProvisionRequest(data []byte) (*ProvisionRequest, error) {
	return parse[ProvisionRequest](data, false)
}

// Acknowledgement reports whether r is a phase 2 request and returns the
// policy it acknowledges.
func (r *ProvisionRequest) Acknowledgement() (PolicyAck, bool) {
	for _, p := range r.Policies {
		if p.PolicyKey != 0 {
			return p, true
		}
	}
	return PolicyAck{}, false
}

// ProvisionResponse answers either phase; in phase 1 Policy carries the
// temporary key and Data, in phase 2 the final key and no Data.
type ProvisionResponse struct {
	DeviceInformationStatus SettingsStatus  `wbxml:"Settings:DeviceInformation>Settings:Status,omitempty"`
	Status                  ProvisionStatus `wbxml:"Provision:Status"`
	Policies                []Policy        `wbxml:"Provision:Policies>Provision:Policy"`
}

// Policy is a Policy as the server sends it.
type Policy struct {
	PolicyType string       `wbxml:"Provision:PolicyType"`
	Status     PolicyStatus `wbxml:"Provision:Status"`
	PolicyKey  uint32       `wbxml:"Provision:PolicyKey,omitempty"`
	Data       *PolicyData  `wbxml:"Provision:Data"`
}

// PolicyData holds the policy: WAP (2.5) is a wap-provisioningdoc XML string
// carried as text; 12.0 and later use EASProvisionDoc.
type PolicyData struct {
	WAP             string           `wbxml:",chardata"`
	EASProvisionDoc *EASProvisionDoc `wbxml:"Provision:EASProvisionDoc"`
}

// EASProvisionDoc is the subset of [MS-ASPROV] policy settings that a
// private-CA push deployment uses. Booleans are always sent so a device
// never guesses; a zero number means "no limit" and is left out.
type EASProvisionDoc struct {
	DevicePasswordEnabled              bool `wbxml:"Provision:DevicePasswordEnabled"`
	AlphanumericDevicePasswordRequired bool `wbxml:"Provision:AlphanumericDevicePasswordRequired"`
	RequireStorageCardEncryption       bool `wbxml:"Provision:RequireStorageCardEncryption"`
	PasswordRecoveryEnabled            bool `wbxml:"Provision:PasswordRecoveryEnabled"`
	AttachmentsEnabled                 bool `wbxml:"Provision:AttachmentsEnabled"`
	MinDevicePasswordLength            int  `wbxml:"Provision:MinDevicePasswordLength,omitempty"`
	MaxInactivityTimeDeviceLock        int  `wbxml:"Provision:MaxInactivityTimeDeviceLock,omitempty"` // seconds
	MaxDevicePasswordFailedAttempts    int  `wbxml:"Provision:MaxDevicePasswordFailedAttempts,omitempty"`
	MaxAttachmentSize                  int  `wbxml:"Provision:MaxAttachmentSize,omitempty"` // bytes
	AllowSimpleDevicePassword          bool `wbxml:"Provision:AllowSimpleDevicePassword"`
	DevicePasswordExpiration           int  `wbxml:"Provision:DevicePasswordExpiration,omitempty"` // days
	DevicePasswordHistory              int  `wbxml:"Provision:DevicePasswordHistory,omitempty"`
}

func (*ProvisionResponse) rootTag() string { return "Provision:Provision" }

// ParseProvisionResponse decodes a Provision response.
func ParseProvisionResponse(data []byte) (*ProvisionResponse, error) {
	return parse[ProvisionResponse](data, false)
}
