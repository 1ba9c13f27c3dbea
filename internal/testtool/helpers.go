package testtool

import (
	"bytes"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Log logs into the test's output. A benchmark's logger discards: b.Log
// keeps every line in memory, which would be measured with the code.
func Log(t testing.TB) *slog.Logger {
	if _, ok := t.(*testing.B); ok {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// WaitFor polls a condition the test has no event for, bounded in count
// (10 s in all), and fails the test when it is not reached.
func WaitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("condition not reached")
}

// ReadBody reads and closes resp's body.
func ReadBody(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// SaveFile writes body to a file named name in a temporary directory of
// the test, where the command-line oracles can read it, and returns its
// path.
func SaveFile(t testing.TB, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ScreenshotDir is where a browser test saves its screenshots for a person
// to look at: $PUSHCA_SCREENSHOTS when set, else the test's own temporary
// directory.
func ScreenshotDir(t testing.TB) string {
	if d := os.Getenv("PUSHCA_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}
