package push

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/push/ping"
)

// TestEnrollPageRequestedWithHostEvilExample: a client asks for the landing
// page and its QR code with `Host: evil.example`. Both used to carry
// http://evil.example/, so a page shown or printed from such a request
// sent phones elsewhere; they carry the configured address only.
func TestEnrollPageRequestedWithHostEvilExample(t *testing.T) {
	testtool.Path(t, "zbarimg")
	for _, tc := range []struct {
		name string
		edit func(*Config)
		// want is the page's URL; PORT stands for the HTTP listener's.
		want string
	}{
		{"public URL given", func(c *Config) { c.EnrollURL = "http://enroll.example.com/pushca" }, "http://enroll.example.com/pushca/"},
		{"host given", func(c *Config) { c.Host = "mail.example.com" }, "http://mail.example.com:PORT/"},
		{"the certificate's name", nil, "http://" + testHost + ":PORT/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServerWith(t, ping.HeartbeatBounds{Min: 1, Max: 3540}, tc.edit)
			_, port, _ := net.SplitHostPort(ts.HTTPAddr())
			want := strings.Replace(tc.want, "PORT", port, 1)
			page := getAsEvil(t, "http://"+ts.HTTPAddr()+"/")
			if !strings.Contains(page, `<span id="url">`+want+`</span>`) || strings.Contains(page, "evil") {
				t.Errorf("landing page shows another URL than %s:\n%s", want, page)
			}
			png := getAsEvil(t, "http://"+ts.HTTPAddr()+"/qr.png")
			if got := strings.TrimSpace(string(testtool.MustRun(t, nil, "zbarimg", "--raw", "-q", testtool.SaveFile(t, "qr.png", png)))); got != want {
				t.Errorf("landing QR code decodes to %q, want %q", got, want)
			}
		})
	}
}

// getAsEvil fetches url with the Host header evil.example and returns the
// body of a 200 answer.
func getAsEvil(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "evil.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := testtool.ReadBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s as evil.example: %d %s", url, resp.StatusCode, body)
	}
	return body
}
