package provision

import (
	"fmt"
	"strconv"

	"github.com/pushca/pushca/profile"
)

// SyncOptions are the settings of the Windows Mobile Sync CSP beyond the
// account itself. Get them from DefaultSyncOptions and change what differs.
type SyncOptions struct {
	// AllowSSLOption lets the user turn SSL off on the device. Off by default:
	// pushca's endpoint speaks only TLS, and a device switched to plain HTTP
	// would send its Basic credentials in clear before being refused.
	AllowSSLOption bool

	// PeakStart and PeakEnd are "HHMM" local times.
	PeakStart, PeakEnd string
	// PeakDays is indexed by time.Weekday (Sunday first).
	PeakDays [7]bool

	// Heartbeat is the DirectPush heartbeat ladder in seconds; the default is
	// the device profile's (HeartbeatDefault = Start, HeartbeatIncrement =
	// Step, HeartbeatMax = Max, HeartbeatMin = Min).
	Heartbeat profile.Heartbeat

	Mail, Calendar, Contacts, Tasks bool
	// EmailAgeFilter and CalendarAgeFilter use ActiveSync FilterType codes:
	// 0 all, 1 one day, 2 three days, 3 one week, 4 two weeks, 5 one month,
	// 6 three months, 7 six months.
	EmailAgeFilter, CalendarAgeFilter int

	// The parms below are not confirmed by a primary source
	// (reference/windows-mobile.md section 2, tags [S] and [U]), so none is
	// written unless set.

	// PeakFrequency [U]: which number means "as items arrive" (push) and
	// which "manual" is unconfirmed; Microsoft's own example sets 0 while its
	// prose says manual. Unset, the device keeps its own schedule, which is
	// safer than a guess that could switch push off.
	PeakFrequency *int
	// SavePassword [S]: whether the device keeps the password it prompts
	// for. Automatic sync may need it saved (one vendor manual says so).
	SavePassword *bool
	// UseSSL [S]: SSL on. Unset, the device's own choice stands.
	UseSSL *bool
	// URI [S]: the ActiveSync path, normally Microsoft-Server-ActiveSync.
	URI string
}

// DefaultSyncOptions returns the documented defaults for a Windows Mobile
// profile: SSL fixed on, peak 08:00-18:00 Monday to Friday, all four content
// types on, mail three days and calendar two weeks back (small devices, slow
// links), the profile's heartbeat, and no unconfirmed parm.
func DefaultSyncOptions(p profile.Profile) (SyncOptions, error) {
	if !p.Legacy {
		return SyncOptions{}, fmt.Errorf("profile %s: the Sync CSP exists only on Windows Mobile (wm5, wm6, wm65)", p.Name)
	}
	return SyncOptions{
		PeakStart: "0800", PeakEnd: "1800",
		PeakDays:  [7]bool{false, true, true, true, true, true, false},
		Heartbeat: p.Heartbeat,
		Mail:      true, Calendar: true, Contacts: true, Tasks: true,
		EmailAgeFilter: 2, CalendarAgeFilter: 4,
	}, nil
}

func (o SyncOptions) check() error {
	for _, t := range []struct{ name, v string }{{"peak start", o.PeakStart}, {"peak end", o.PeakEnd}} {
		if err := checkHHMM(t.v); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	h := o.Heartbeat
	if h.Min <= 0 || h.Start < h.Min || h.Max < h.Start || h.Step < 0 {
		return fmt.Errorf("heartbeat %+v: want 0 < Min <= Start <= Max and Step >= 0 (seconds)", h)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"email age filter", o.EmailAgeFilter}, {"calendar age filter", o.CalendarAgeFilter}} {
		if f.v < 0 || f.v > 7 {
			return fmt.Errorf("%s %d: want an ActiveSync FilterType code 0-7", f.name, f.v)
		}
	}
	return checkText("URI", o.URI)
}

func checkHHMM(s string) error {
	if len(s) != 4 {
		return fmt.Errorf("%q: want HHMM, e.g. 0800", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n/100 > 23 || n%100 > 59 {
		return fmt.Errorf("%q: want HHMM between 0000 and 2359", s)
	}
	return nil
}

// syncCSP builds the Sync characteristic. There is no Password parm and no
// way to give one: the device prompts at first sync.
func syncCSP(a Account, o SyncOptions) (*characteristic, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("sync settings: %w", err)
	}
	conn := &characteristic{Type: "Connection"}
	conn.add("Server", a.Server)
	conn.add("User", a.User)
	if a.Domain != "" {
		conn.add("Domain", a.Domain)
	}
	conn.add("AllowSSLOption", bit(o.AllowSSLOption))
	if o.SavePassword != nil {
		conn.add("SavePassword", bit(*o.SavePassword))
	}
	if o.UseSSL != nil {
		conn.add("UseSSL", bit(*o.UseSSL))
	}
	if o.URI != "" {
		conn.add("URI", o.URI)
	}

	settings := &characteristic{Type: "Settings"}
	settings.add("PeakStartTime", o.PeakStart)
	settings.add("PeakEndTime", o.PeakEnd)
	if o.PeakFrequency != nil {
		settings.add("PeakFrequency", strconv.Itoa(*o.PeakFrequency))
	}
	settings.add("HeartbeatDefault", strconv.Itoa(o.Heartbeat.Start))
	settings.add("HeartbeatIncrement", strconv.Itoa(o.Heartbeat.Step))
	settings.add("HeartbeatMax", strconv.Itoa(o.Heartbeat.Max))
	settings.add("HeartbeatMin", strconv.Itoa(o.Heartbeat.Min))
	days := &characteristic{Type: "PeakDays"}
	// Indexed by time.Weekday; Thursday really is "Thr" in the Sync CSP.
	for i, name := range [7]string{"Sun", "Mon", "Tue", "Wed", "Thr", "Fri", "Sat"} {
		days.add(name, bit(o.PeakDays[i]))
	}
	settings.Children = append(settings.Children, days)

	mail := &characteristic{Type: "Mail"}
	mail.add("Enabled", bit(o.Mail))
	mail.add("EmailAgeFilter", strconv.Itoa(o.EmailAgeFilter))
	cal := &characteristic{Type: "Calendar"}
	cal.add("Enabled", bit(o.Calendar))
	cal.add("CalendarAgeFilter", strconv.Itoa(o.CalendarAgeFilter))
	contacts := &characteristic{Type: "Contacts"}
	contacts.add("Enabled", bit(o.Contacts))
	tasks := &characteristic{Type: "Tasks"}
	tasks.add("Enabled", bit(o.Tasks))

	return &characteristic{
		Type:     "Sync",
		Children: []*characteristic{conn, settings, mail, cal, contacts, tasks},
	}, nil
}

func bit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
