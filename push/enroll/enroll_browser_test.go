package enroll

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/provision"
)

// downloadTypesJS fetches every download button's link from inside the
// page, as the device's browser would, and returns href → Content-Type.
const downloadTypesJS = `(async () => {
  const out = {};
  for (const a of document.querySelectorAll("a.dl")) {
    const r = await fetch(a.href);
    out[a.getAttribute("href")] = r.status + " " + r.headers.get("content-type");
  }
  return out;
})()`

type pageFacts struct {
	sha256, sha1 string
	qrWidth      int
	types        map[string]string
}

func readPage(t *testing.T, ctx context.Context, url, shot string) pageFacts {
	t.Helper()
	var f pageFacts
	var png []byte
	err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("sha256")))
	if err == nil {
		f.sha256, err = chromedp.Run(ctx, chromedp.Text(chromedp.ID("sha256")))
	}
	if err == nil {
		f.sha1, err = chromedp.Run(ctx, chromedp.Text(chromedp.ID("sha1")))
	}
	if err == nil {
		// The QR image loaded under the page's Content-Security-Policy.
		f.qrWidth, err = chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelector(".qr img").naturalWidth`))
	}
	if err == nil {
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	}
	// The page's policy forbids scripts any connection (connect-src falls
	// back to 'none'), so the test's own fetches run on a reload with the
	// policy lifted, and it is put back for the next page.
	if err == nil {
		err = chromedp.Do(ctx, bypassCSP(true), chromedp.Navigate(url))
	}
	if err == nil {
		f.types, err = chromedp.Run(ctx, chromedp.Evaluate[map[string]string](downloadTypesJS, chromedp.EvalAwaitPromise))
	}
	if err == nil {
		err = chromedp.Do(ctx, bypassCSP(false))
	}
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func bypassCSP(on bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: on})
		return err
	})
}

func TestEnrollPagesInChromium(t *testing.T) {
	base, dir, root := startEnroll(t, "legacy", "modern")
	links, err := IssueLinks(linksPath(dir), LinkRun{Base: base, TTL: time.Hour, Now: time.Now()}, []Link{
		{Server: "mail.example.com", User: "jdoe", Domain: "CORP", DisplayName: "Jöhn <Doe>", Devices: []string{"android", "ios", "wm6"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testtool.Browser(t)
	shots := testtool.ScreenshotDir(t)
	for name, c := range map[string]struct {
		url   string
		types map[string]string
	}{
		"landing": {base + "/", map[string]string{
			"root.cab": "200 application/vnd.ms-cab-compressed", "root.crt": "200 application/x-x509-ca-cert",
			"root.mobileconfig": "200 application/x-apple-aspen-config",
		}},
		"user": {links[0].URL, map[string]string{
			"../../root.cab": "200 application/vnd.ms-cab-compressed", "../../root.crt": "200 application/x-x509-ca-cert",
			"account.cab": "200 application/vnd.ms-cab-compressed", "exchange.mobileconfig": "200 application/x-apple-aspen-config",
		}},
	} {
		t.Run(name, func(t *testing.T) {
			f := readPage(t, ctx, c.url, filepath.Join(shots, "enroll-"+name+".png"))
			if f.sha256 != provision.SHA256(root).Colon() || f.sha1 != provision.SHA1(root).Colon() {
				t.Errorf("fingerprints on the page: %q %q", f.sha256, f.sha1)
			}
			if f.qrWidth == 0 {
				t.Error("the QR image did not load")
			}
			if len(f.types) != len(c.types) {
				t.Errorf("download links: %v, want %v", f.types, c.types)
			}
			for href, want := range c.types {
				if got := f.types[href]; !strings.EqualFold(got, want) {
					t.Errorf("%s: %q, want %q", href, got, want)
				}
			}
		})
	}
}
