package ca

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/pushca/pushca/internal/atomicfile"
	"github.com/pushca/pushca/profile"
)

// FormatVersion is the layout version of a state directory this build
// writes. It also reads version 1, a CA of one profile made before chain
// families existed, without changing it: its one family is the one its
// intermediate belongs to. A directory of a later version is refused, never
// silently downgraded.
const FormatVersion = 2

// State is pushca.json: what the step-ca configuration cannot say.
type State struct {
	Format int    `json:"format"`
	Name   string `json:"name"`
	// Families are the CA's chain families, the first one's files under the
	// names step-ca's configuration uses (see Slot).
	Families []string `json:"families,omitempty"`
	// Profile is the one profile of a version 1 directory.
	Profile string    `json:"profile,omitempty"`
	Created time.Time `json:"created"`
	// CRLURL, when set, goes into every certificate issued as the CRL
	// distribution point.
	CRLURL string `json:"crlURL,omitempty"`
	// DB is the PostgreSQL URL (never with a password, see CheckDSN) of
	// the database that holds step-ca's tables and the inventory, shared
	// by every state directory that names it; empty for the bbolt file
	// db/pushca.db. A copy of the directory keeps it.
	DB string `json:"db,omitempty"`
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
	switch s.Format {
	case 1:
		f, err := familyOf(l.IntermediateCert(Slot{}))
		if err != nil {
			return s, fmt.Errorf("state %s: %w", l.State(), err)
		}
		s.Families = []string{f}
	case FormatVersion:
		if len(s.Families) == 0 {
			return s, fmt.Errorf("state %s: no chain families listed", l.State())
		}
		for _, f := range s.Families {
			if _, err := profile.GetFamily(f); err != nil {
				return s, fmt.Errorf("state %s: %w", l.State(), err)
			}
		}
	default:
		return s, fmt.Errorf("state %s: format version %d, this pushca reads versions 1 and %d; use the pushca release that wrote it", l.State(), s.Format, FormatVersion)
	}
	if s.DB, err = CheckDSN(s.DB); err != nil {
		return s, fmt.Errorf("state %s: %w", l.State(), err)
	}
	return s, nil
}

// slots are the state's families with the names of their files.
func (s State) slots() []Slot {
	out := make([]Slot, len(s.Families))
	for i, f := range s.Families {
		out[i] = newSlot(f, i == 0)
	}
	return out
}

// ReadSlots returns the chain families of the state directory dir, first
// family first, without the CA password: what a server or a packager needs
// to find a family's files.
func ReadSlots(dir string) ([]Slot, error) {
	st, err := readState(Layout{Dir: dir})
	if err != nil {
		return nil, err
	}
	return st.slots(), nil
}

// familyOf names the family of an intermediate made before families
// existed.
func familyOf(path string) (string, error) {
	cert, err := readCert(path)
	if err != nil {
		return "", err
	}
	f, ok := profile.FamilyOf(cert)
	if !ok {
		return "", fmt.Errorf("intermediate %s (%s key, %v) belongs to no chain family", path, profile.KeyTypeOf(cert.PublicKey), cert.SignatureAlgorithm)
	}
	return f.Name, nil
}

func writeState(l Layout, s State) error {
	b, err := stateJSON(s)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(l.State(), b, atomicfile.FileMode)
}

// stateJSON is pushca.json's content.
func stateJSON(s State) ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	return append(b, '\n'), err
}
