package load

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc/PID/stat.
const clockTicks = 100

// Process reads a server's resource use from /proc.
type Process struct{ PID int }

// Memory is a process's resident memory in bytes: all of it (VmRSS) and
// the anonymous part (RssAnon), which leaves out mapped files such as a
// bbolt database: page cache the kernel can drop, not memory a held Ping
// keeps alive.
type Memory struct {
	RSS  int64 `json:"rss_bytes"`
	Anon int64 `json:"anon_bytes"`
}

// Memory reads /proc/PID/status.
func (p Process) Memory() (Memory, error) {
	path := fmt.Sprintf("/proc/%d/status", p.PID)
	data, err := os.ReadFile(path)
	if err != nil {
		return Memory{}, fmt.Errorf("server memory: %w", err)
	}
	var m Memory
	found := 0
	for line := range bytes.Lines(data) {
		name, rest, ok := bytes.Cut(line, []byte(":"))
		var dst *int64
		switch string(name) {
		case "VmRSS":
			dst = &m.RSS
		case "RssAnon":
			dst = &m.Anon
		}
		if !ok || dst == nil {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return Memory{}, fmt.Errorf("%s: line %q", path, bytes.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("%s: %s: %w", path, name, err)
		}
		*dst = kb * 1024
		found++
	}
	if found != 2 {
		return Memory{}, fmt.Errorf("%s: no VmRSS and RssAnon lines", path)
	}
	return m, nil
}

// processes are the server's processes to measure: Server and each
// instance's, nil when Server is not set.
func (c *Config) processes() processes {
	if c.Server == nil {
		return nil
	}
	ps := processes{*c.Server}
	for _, in := range c.Instances {
		ps = append(ps, *in.Server) // defaults checked they are set
	}
	return ps
}

// processes are the endpoints of one server, measured as one.
type processes []Process

// Memory is the sum of the processes' resident memory.
func (ps processes) Memory() (Memory, error) {
	var sum Memory
	for _, p := range ps {
		m, err := p.Memory()
		if err != nil {
			return Memory{}, err
		}
		sum.RSS += m.RSS
		sum.Anon += m.Anon
	}
	return sum, nil
}

// CPUSeconds is the sum of the processes' CPU time.
func (ps processes) CPUSeconds() (float64, error) {
	var sum float64
	for _, p := range ps {
		s, err := p.CPUSeconds()
		if err != nil {
			return 0, err
		}
		sum += s
	}
	return sum, nil
}

// CPUSeconds returns the user and system time the process has used.
func (p Process) CPUSeconds() (float64, error) {
	path := fmt.Sprintf("/proc/%d/stat", p.PID)
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("server CPU: %w", err)
	}
	// The command name may hold spaces and parentheses: fields start
	// after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: no ')' in %q", path, data)
	}
	f := strings.Fields(string(data[i+1:]))
	// utime and stime are fields 14 and 15 of stat; f[0] is field 3.
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: %d fields after the name", path, len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		ticks += n
	}
	return float64(ticks) / clockTicks, nil
}

// WaitIdle returns once the process used under 2% of a core over a 500 ms
// window, or after limit: the handshake rates are per server CPU second,
// and the teardown of a run's thousands of connections would be counted.
func (p Process) WaitIdle(ctx context.Context, limit time.Duration) error {
	const window = 500 * time.Millisecond
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		before, err := p.CPUSeconds()
		if err != nil {
			return err
		}
		if err := sleep(ctx, window); err != nil {
			return err
		}
		after, err := p.CPUSeconds()
		if err != nil {
			return err
		}
		if after-before < 0.02*window.Seconds() {
			return nil
		}
	}
	return nil
}
