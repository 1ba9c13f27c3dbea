package push

import (
	"strings"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/push/state"
)

// settingsParts are the Settings parts this endpoint answers; a request's
// other parts (DevicePassword, RightsManagementInformation) get no answer
// and a log line.
var settingsParts = map[string]bool{
	"Settings:Oof": true, "Settings:DeviceInformation": true, "Settings:UserInformation": true,
}

// settings answers the parts of a Settings request ([MS-ASCMD] 2.2.1.18):
// the device's information is recorded, the OOF state is that of a mailbox
// never away, and the user's addresses are NAME@MailDomain.
func (c *call) settings() {
	root, err := eas.Decode(c.body)
	req := &eas.SettingsRequest{}
	if err == nil {
		err = eas.FromElement(root, req)
	}
	if err != nil {
		c.failed(int(eas.SettingsProtocolError), err.Error())
		c.reply(&eas.SettingsResponse{Status: eas.SettingsProtocolError})
		return
	}
	for _, part := range root.Children {
		if !settingsParts[part.Tag] {
			c.failed(0, "Settings part "+truncateForLog(part.Tag)+" is not served by this test endpoint: no answer for it")
		}
	}
	resp := &eas.SettingsResponse{Status: eas.SettingsOK}
	if di := req.DeviceInformation; di != nil {
		if !c.update(func(d *state.Device) { d.Model, d.OS = di.Model, di.OS }) {
			return
		}
		resp.DeviceInformationStatus = eas.SettingsOK
	}
	if req.Oof != nil {
		resp.Oof = c.oof(req.Oof)
	}
	if req.UserInformation != nil {
		resp.UserInformation = c.userInformation(req.UserInformation)
	}
	c.reply(resp)
}

// oof answers an Oof part: Get with OOF off and no messages, Set refused,
// since the test mailbox never sends automatic replies.
func (c *call) oof(req *eas.OofRequest) *eas.OofResponse {
	switch {
	case req.Set != nil:
		c.failed(int(eas.SettingsAccessDenied), "Oof Set: the test mailbox keeps OOF off")
		return &eas.OofResponse{Status: eas.SettingsAccessDenied}
	case req.Get == nil:
		c.failed(int(eas.SettingsProtocolError), "Oof without Get or Set")
		return &eas.OofResponse{Status: eas.SettingsProtocolError}
	}
	// [MS-ASCMD] 2.2.3.17: Text or HTML, which clients spell in any case.
	bodyType := eas.OofBodyText
	switch {
	case strings.EqualFold(req.Get.BodyType, eas.OofBodyHTML):
		bodyType = eas.OofBodyHTML
	case !strings.EqualFold(req.Get.BodyType, eas.OofBodyText):
		c.failed(int(eas.SettingsInvalidArguments), "Oof Get BodyType "+truncateForLog(req.Get.BodyType)+": want Text or HTML")
		return &eas.OofResponse{Status: eas.SettingsInvalidArguments}
	}
	return &eas.OofResponse{Status: eas.SettingsOK, Get: eas.DisabledOof(bodyType)}
}

// userInformation answers a UserInformation Get with the user's addresses,
// in the form of the device's version.
func (c *call) userInformation(req *eas.UserInformationRequest) *eas.UserInformationResponse {
	if !req.Get {
		c.failed(int(eas.SettingsProtocolError), "UserInformation without Get")
		return &eas.UserInformationResponse{Status: eas.SettingsProtocolError}
	}
	addrs := c.h.site.addresses(c.user)
	if len(addrs) == 0 {
		c.failed(int(eas.SettingsServerUnavailable), "UserInformation: no mail domain configured (serve --mail-domain)")
		return &eas.UserInformationResponse{Status: eas.SettingsServerUnavailable}
	}
	return eas.NewUserInformation(c.q.Version, c.user, addrs)
}
