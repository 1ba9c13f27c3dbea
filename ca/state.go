package ca

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/pushca/pushca/internal/atomicfile"
)

// FormatVersion is the layout version of a state directory this build
// reads and writes. A directory of another version is refused, never
// silently upgraded.
const FormatVersion = 1

// State is pushca.json: what the step-ca configuration cannot say.
type State struct {
	Format  int       `json:"format"`
	Name    string    `json:"name"`
	Profile string    `json:"profile"`
	Created time.Time `json:"created"`
	// CRLURL, when set, goes into every certificate issued as the CRL
	// distribution point.
	CRLURL string `json:"crlURL,omitempty"`
}

// ErrNotInitialized is returned by Open for a directory without pushca.json.
var ErrNotInitialized = errors.New("not a pushca state directory")

func readState(l Layout) (State, error) {
	var s State
	b, err := os.ReadFile(l.State())
	if errors.Is(err, fs.ErrNotExist) {
		return s, fmt.Errorf("%s: %w (run `pushca init --dir %s` first)", l.State(), ErrNotInitialized, l.Dir)
	}
	if err != nil {
		return s, fmt.Errorf("read state %s: %w", l.State(), err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("read state %s: invalid JSON: %w", l.State(), err)
	}
	if s.Format != FormatVersion {
		return s, fmt.Errorf("state %s: format version %d, this pushca reads version %d; use the pushca release that wrote it", l.State(), s.Format, FormatVersion)
	}
	return s, nil
}

func writeState(l Layout, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(l.State(), append(b, '\n'), atomicfile.FileMode)
}
