package plan

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/push/state"
)

// Report is what a change would do to a host's known devices.
type Report struct {
	Host string `json:"host"`
	// After is the families the host serves once the change is made.
	After []string `json:"after"`
	// Devices counts the records whose latest handshake was with one of
	// the host's certificates: the devices the plan could judge.
	Devices int `json:"devices"`
	// Lost are the devices that accept none of After, grouped by what they
	// are.
	Lost []Group `json:"lost"`
	// Unknown are the host's devices the table does not know and whose
	// handshake chose no family: nothing says what they accept, so they
	// neither pass nor fail the plan.
	Unknown []Device `json:"unknown,omitempty"`
}

// LostDevices is the number of devices in Lost.
func (r Report) LostDevices() int {
	n := 0
	for _, g := range r.Lost {
		n += len(g.Devices)
	}
	return n
}

// Group is devices that accept the same families for the same reason.
type Group struct {
	// Profiles are the table rows the devices match; none when the table
	// knows none of them and Family, the family their handshakes chose,
	// stands for what they accept.
	Profiles []string `json:"profiles,omitempty"`
	Family   string   `json:"family,omitempty"`
	// Accepts is every family the devices take, in table order.
	Accepts []string `json:"accepts"`
	Devices []Device `json:"devices"`
}

// Name is how a report heads the group: "wm5" or "recorded family legacy".
func (g Group) Name() string {
	if len(g.Profiles) > 0 {
		return strings.Join(g.Profiles, ", ")
	}
	return "recorded family " + g.Family
}

// Device is what the report says about one device record.
type Device struct {
	User      string    `json:"user"`
	ID        string    `json:"id"`
	Type      string    `json:"type,omitempty"`
	UserAgent string    `json:"userAgent,omitempty"`
	Protocol  string    `json:"protocol,omitempty"`
	Cert      string    `json:"cert"`
	Family    string    `json:"family,omitempty"`
	LastSeen  time.Time `json:"lastSeen"`
}

// Check says which of devices belong to host and would accept none of the
// families after. A device belongs to host when serialHost maps the serial
// of its latest handshake's certificate (Device.Cert) to host: any of the
// host's certificates, superseded and revoked ones too, since a device
// that last saw an old one still uses the host.
//
// Where several profiles match a device, it accepts only the families all
// of them accept: a pre-flight that errs warns once too often rather than
// letting a phone go dark.
func Check(after []string, devices []state.Device, serialHost func(serial string) (host string, ok bool), host string) Report {
	rep := Report{Host: host, After: slices.Clone(after), Lost: []Group{}}
	groups := map[string]*Group{}
	var order []string
	for _, d := range devices {
		if d.Cert == "" {
			continue
		}
		if h, ok := serialHost(d.Cert); !ok || !strings.EqualFold(h, host) {
			continue
		}
		rep.Devices++
		g, ok := classify(d)
		if !ok {
			rep.Unknown = append(rep.Unknown, summary(d))
			continue
		}
		if slices.ContainsFunc(g.Accepts, func(f string) bool { return slices.Contains(after, f) }) {
			continue
		}
		key := g.Name()
		if groups[key] == nil {
			groups[key] = &g
			order = append(order, key)
		}
		groups[key].Devices = append(groups[key].Devices, summary(d))
	}
	for _, k := range order {
		g := groups[k]
		sort.Slice(g.Devices, func(i, j int) bool {
			if g.Devices[i].User != g.Devices[j].User {
				return g.Devices[i].User < g.Devices[j].User
			}
			return g.Devices[i].ID < g.Devices[j].ID
		})
		rep.Lost = append(rep.Lost, *g)
	}
	// Table rows first, in table order, then recorded families by name:
	// the same plan prints the same way every time.
	sort.SliceStable(rep.Lost, func(i, j int) bool { return rank(rep.Lost[i]) < rank(rep.Lost[j]) })
	return rep
}

// classify finds what a device accepts: its table rows' families, else the
// family its handshake chose. ok is false when neither says anything.
func classify(d state.Device) (g Group, ok bool) {
	ps := profile.ForDevice(d.Type, d.Protocol)
	if len(ps) == 0 {
		if _, err := profile.GetFamily(d.Family); err != nil {
			return Group{}, false
		}
		return Group{Family: d.Family, Accepts: []string{d.Family}, Devices: []Device{}}, true
	}
	g = Group{Accepts: []string{}, Devices: []Device{}}
	for _, p := range ps {
		g.Profiles = append(g.Profiles, p.Name)
	}
	for _, f := range profile.Families() {
		if !slices.ContainsFunc(ps, func(p profile.Profile) bool { return !p.Accepts(f) }) {
			g.Accepts = append(g.Accepts, f.Name)
		}
	}
	return g, true
}

// rank orders groups: table rows by their first profile's place in the
// table, then recorded families by their place in the family table.
func rank(g Group) int {
	if len(g.Profiles) > 0 {
		return slices.Index(profile.Names(), g.Profiles[0])
	}
	return len(profile.Names()) + slices.Index(profile.FamilyNames(), g.Family)
}

func summary(d state.Device) Device {
	return Device{
		User: d.User, ID: d.ID, Type: d.Type, UserAgent: d.UserAgent, Protocol: d.Protocol,
		Cert: d.Cert, Family: d.Family, LastSeen: d.LastSeen,
	}
}
