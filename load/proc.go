package load

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc/PID/stat.
const clockTicks = 100

// Process reads a server's resource use from /proc.
type Process struct{ PID int }

// RSS returns the resident set size in bytes (VmRSS).
func (p Process) RSS() (int64, error) {
	path := fmt.Sprintf("/proc/%d/status", p.PID)
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("server memory: %w", err)
	}
	for line := range bytes.Lines(data) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s: VmRSS line %q", path, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: VmRSS: %w", path, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("%s: no VmRSS line", path)
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
