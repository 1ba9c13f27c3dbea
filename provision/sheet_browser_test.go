package provision

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pushca/pushca/internal/testtool"
)

// narrowCellsJS lists every cell of the facts tables narrower than one of
// its words, each word measured in the cell's own font, and how wide the
// page is. Fingerprints are left out: 95 characters without a space fit
// no phone, and their class lets them break anywhere on purpose.
const narrowCellsJS = `(() => {
  const narrow = [];
  for (const cell of document.querySelectorAll("table.facts th, table.facts td:not(.fp)")) {
    const cs = getComputedStyle(cell);
    const room = cell.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    for (const word of cell.textContent.split(/\s+/).filter(w => w)) {
      const span = document.createElement("span");
      span.style.whiteSpace = "nowrap";
      span.textContent = word;
      cell.appendChild(span);
      const need = span.getBoundingClientRect().width;
      span.remove();
      if (need > room + 0.5) narrow.push({word: word, need: need, room: room});
    }
  }
  return {narrow: narrow, page: document.documentElement.scrollWidth, viewport: innerWidth};
})()`

type layoutFacts struct {
	Narrow []struct {
		Word       string
		Need, Room float64
	}
	Page, Viewport int
}

// TestSheetOnA400PxScreenKeepsWordsWhole opens a user's sheet in a 400 px
// wide window, as on a phone: the QR code floated beside the facts table
// squeezed it until names broke mid-word ("mail.e|xampl|e.com").
func TestSheetOnA400PxScreenKeepsWordsWhole(t *testing.T) {
	p := newPKI(t, x509.SHA1WithRSA)
	s := Sheet{
		Chain:       p.chain(),
		Account:     Account{Server: "mail.subsidiary.example.com", User: "jane.doe", Domain: "CORP", Email: "jane.doe@subsidiary.example.com"},
		DisplayName: "Jane Doe",
		Devices:     []string{"android", "ios", "wm6"},
		URL:         "http://enroll.example.com/u/0123456789abcdef0123456789abcdef/",
		Expires:     time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC),
		Links:       SheetLinks{RootCAB: "../../shared/root.cab", AccountCAB: "account.cab", Mobileconfig: "exchange.mobileconfig", RootCRT: "../../shared/root.crt"},
	}
	pages, err := sheetPages()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, sheetName))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Render(f, pages)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	ctx := testtool.Browser(t)
	shots := t.TempDir()
	if d := os.Getenv("PUSHCA_SCREENSHOTS"); d != "" {
		shots = d
	}
	// 400 px is the phone of the report; the others are either side of
	// where the QR code stops floating, and a desktop.
	for _, width := range []int64{400, 600, 700, 1000} {
		err = chromedp.Do(ctx, chromedp.EmulateViewport(width, 900), chromedp.Navigate("file://"+filepath.Join(dir, sheetName)),
			chromedp.WaitVisible(chromedp.ID("sha256")))
		if err != nil {
			t.Fatal(err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[layoutFacts](narrowCellsJS))
		if err != nil {
			t.Fatal(err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		shot := filepath.Join(shots, fmt.Sprintf("sheet-%dpx.png", width))
		if err := os.WriteFile(shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, n := range got.Narrow {
			t.Errorf("%d px (%s): %q needs %.0f px, its cell has %.0f", width, shot, n.Word, n.Need, n.Room)
		}
		if got.Page > got.Viewport {
			t.Errorf("%d px (%s): the page is %d px wide", width, shot, got.Page)
		}
	}
}
