package push

import (
	"crypto/rand"
	"encoding/binary"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/push/state"
)

// wapPolicy asks a 2.5 device for nothing: no PIN (4131=1), unsigned
// applications allowed (4133=1), as Exchange's "no policy" does.
const wapPolicy = `<wap-provisioningdoc><characteristic type="SecurityPolicy"><parm name="4131" value="1"/><parm name="4133" value="1"/></characteristic></wap-provisioningdoc>`

// noPolicy is the 12.0+ equivalent: nothing required of the device.
func noPolicy() *eas.EASProvisionDoc {
	return &eas.EASProvisionDoc{AttachmentsEnabled: true, AllowSimpleDevicePassword: true}
}

func newPolicyKey() uint32 {
	var b [4]byte
	for {
		rand.Read(b[:])
		if k := binary.LittleEndian.Uint32(b[:]); k != 0 {
			return k
		}
	}
}

// provision runs either phase: a policy request gets a temporary key and
// the policy; an acknowledgement of that key gets the final one. From 14.1
// the first phase carries the device's information ([MS-ASPROV] 2.2.2.53),
// answered with its own Status.
func (c *call) provision() {
	req, err := eas.ParseProvisionRequest(c.body)
	if err == nil && len(req.Policies) == 0 {
		err = errNoPolicy
	}
	if err != nil {
		c.failed(int(eas.ProvisionProtocolError), err.Error())
		c.reply(&eas.ProvisionResponse{Status: eas.ProvisionProtocolError})
		return
	}
	resp := &eas.ProvisionResponse{Status: eas.ProvisionOK}
	if di := req.DeviceInformation; di != nil {
		resp.DeviceInformationStatus = eas.SettingsOK
		if !c.update(func(d *state.Device) { d.Model, d.OS = di.Model, di.OS }) {
			return
		}
	}
	if ack, ok := req.Acknowledgement(); ok {
		p := eas.Policy{PolicyType: ack.PolicyType, Status: eas.PolicyOK}
		if ack.PolicyKey != c.dev.PendingPolicyKey || c.dev.PendingPolicyKey == 0 {
			p.Status = eas.PolicyWrongKey
			c.failed(int(p.Status), "acknowledged a policy key this device was not given")
		} else {
			final := newPolicyKey()
			if !c.update(func(d *state.Device) { d.PolicyKey, d.PendingPolicyKey = final, 0 }) {
				return
			}
			p.PolicyKey = final
			c.h.log.Info("device provisioned", "user", c.user, "device", c.q.DeviceID, "type", c.q.DeviceType, "version", c.q.Version)
		}
		resp.Policies = []eas.Policy{p}
		c.reply(resp)
		return
	}
	ptype := req.Policies[0].PolicyType
	p := eas.Policy{PolicyType: ptype, Status: eas.PolicyOK}
	switch ptype {
	case eas.PolicyTypeWAP:
		p.Data = &eas.PolicyData{WAP: wapPolicy}
	case eas.PolicyTypeWBXML:
		p.Data = &eas.PolicyData{EASProvisionDoc: noPolicy()}
	default:
		p.Status = eas.PolicyUnknownType
		c.failed(int(p.Status), "unknown PolicyType "+truncateForLog(ptype))
		resp.Policies = []eas.Policy{p}
		c.reply(resp)
		return
	}
	temporary := newPolicyKey()
	if !c.update(func(d *state.Device) { d.PendingPolicyKey = temporary }) {
		return
	}
	p.PolicyKey = temporary
	resp.Policies = []eas.Policy{p}
	c.reply(resp)
}
