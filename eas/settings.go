package eas

// SettingsStatus is Settings:Status, at the top of a Settings response and
// inside its DeviceInformation (also in a 14.1 Provision response).
type SettingsStatus int

const (
	SettingsOK                SettingsStatus = 1
	SettingsProtocolError     SettingsStatus = 2
	SettingsAccessDenied      SettingsStatus = 3
	SettingsServerUnavailable SettingsStatus = 4
	SettingsInvalidArguments  SettingsStatus = 5
	SettingsConflictingArgs   SettingsStatus = 6
	SettingsDeniedByPolicy    SettingsStatus = 7
)

var settingsStatusNames = map[int]string{
	1: "success", 2: "protocol error", 3: "access denied", 4: "server unavailable",
	5: "invalid arguments", 6: "conflicting arguments", 7: "denied by policy",
}

func (s SettingsStatus) String() string { return statusText(settingsStatusNames, int(s)) }

// DeviceInformation is what a device reports about itself in
// Settings:DeviceInformation/Set (Settings command, and Provision at 14.1).
type DeviceInformation struct {
	Model             string `wbxml:"Settings:Model,omitempty"`
	IMEI              string `wbxml:"Settings:IMEI,omitempty"`
	FriendlyName      string `wbxml:"Settings:FriendlyName,omitempty"`
	OS                string `wbxml:"Settings:OS,omitempty"`
	OSLanguage        string `wbxml:"Settings:OSLanguage,omitempty"`
	PhoneNumber       string `wbxml:"Settings:PhoneNumber,omitempty"`
	UserAgent         string `wbxml:"Settings:UserAgent,omitempty"`
	EnableOutboundSMS bool   `wbxml:"Settings:EnableOutboundSMS,omitempty"`
	MobileOperator    string `wbxml:"Settings:MobileOperator,omitempty"`
}

// SettingsRequest carries the Settings operations a push endpoint answers:
// the device's information (Set), the OOF state and the user's addresses
// (Get). Other parts (DevicePassword, RightsManagementInformation) are left
// in the element tree for the server to report.
type SettingsRequest struct {
	Oof               *OofRequest             `wbxml:"Settings:Oof"`
	DeviceInformation *DeviceInformation      `wbxml:"Settings:DeviceInformation>Settings:Set"`
	UserInformation   *UserInformationRequest `wbxml:"Settings:UserInformation"`
}

func (*SettingsRequest) rootTag() string { return "Settings:Settings" }

// ParseSettingsRequest decodes a Settings request.
func ParseSettingsRequest(data []byte) (*SettingsRequest, error) {
	return parse[SettingsRequest](data, false)
}

// SettingsResponse answers a Settings request: a top-level Status and one
// part per part requested.
type SettingsResponse struct {
	Status                  SettingsStatus           `wbxml:"Settings:Status"`
	Oof                     *OofResponse             `wbxml:"Settings:Oof"`
	DeviceInformationStatus SettingsStatus           `wbxml:"Settings:DeviceInformation>Settings:Status,omitempty"`
	UserInformation         *UserInformationResponse `wbxml:"Settings:UserInformation"`
}

func (*SettingsResponse) rootTag() string { return "Settings:Settings" }

// ParseSettingsResponse decodes a Settings response.
func ParseSettingsResponse(data []byte) (*SettingsResponse, error) {
	return parse[SettingsResponse](data, false)
}
