package push

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pushca/pushca/internal/atomicfile"
	"github.com/pushca/pushca/provision"
)

// LinksPath is the per-user enrollment links file (JSON, 0600): written by
// `pushca bundle --base-url`, read by `pushca serve`.
func LinksPath(dir string) string { return filepath.Join(stateDir(dir), "enroll-links.json") }

// LinkPath is the path of every per-user page below the base URL.
const LinkPath = "/u/"

// tokenBytes is 128 bits: links are printed on paper and typed by no one,
// so there is no reason to go shorter.
const tokenBytes = 16

// keepExpired is how long an expired link stays in the file, so that its
// owner is told it expired (410) rather than that it never existed (404).
const keepExpired = 30 * 24 * time.Hour

// Link is one person's enrollment page: the account the page sets up, and
// the random token that is the only thing guarding it.
type Link struct {
	Token       string    `json:"token"`
	URL         string    `json:"url"`
	Server      string    `json:"server"`
	User        string    `json:"user"`
	Domain      string    `json:"domain,omitempty"`
	Email       string    `json:"email,omitempty"`
	DisplayName string    `json:"display_name,omitempty"`
	Devices     []string  `json:"devices"`
	Expires     time.Time `json:"expires"`
}

type linksFile struct {
	Links []Link `json:"links"`
}

// key identifies the person a link is for: Exchange user names ignore case.
func (l Link) key() string { return strings.ToLower(l.Server) + "\x00" + strings.ToLower(l.User) }

// IssueLinks gives each of want (filled but for Token, URL and Expires) a
// link below base valid for ttl, and saves them all in the file at path.
// A person who still has an unexpired link keeps its token and expiry, so
// re-running a bundle prints the same QR codes; the account details are
// updated to want's.
func IssueLinks(path, base string, ttl time.Duration, now time.Time, want []Link) ([]Link, error) {
	if err := checkBaseURL(base); err != nil {
		return nil, err
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("link lifetime %v: want a positive duration", ttl)
	}
	old, err := readLinks(path)
	if err != nil {
		return nil, err
	}
	live := map[string]Link{}
	var kept []Link
	for _, l := range old {
		if now.Before(l.Expires) {
			live[l.key()] = l
		} else if now.Before(l.Expires.Add(keepExpired)) {
			kept = append(kept, l)
		}
	}
	out := make([]Link, len(want))
	for i, w := range want {
		if l, ok := live[w.key()]; ok {
			w.Token, w.Expires = l.Token, l.Expires
			delete(live, w.key())
		} else {
			b := make([]byte, tokenBytes)
			rand.Read(b)
			w.Token, w.Expires = hex.EncodeToString(b), now.Add(ttl).UTC().Truncate(time.Second)
		}
		w.URL = strings.TrimSuffix(base, "/") + LinkPath + w.Token + "/"
		out[i] = w
	}
	// Links of other bundles (other people, other servers) stay valid.
	for _, l := range live {
		kept = append(kept, l)
	}
	data, err := json.MarshalIndent(linksFile{Links: append(kept, out...)}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("enrollment links: %w", err)
	}
	if err := atomicfile.MkdirAll(filepath.Dir(path)); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(path, data, atomicfile.FileMode); err != nil {
		return nil, fmt.Errorf("save enrollment links: %w", err)
	}
	return out, nil
}

// checkBaseURL accepts what can prefix a link in a QR code: http(s), a
// host, no query or fragment.
func checkBaseURL(base string) error {
	if err := provision.CheckQRURL(base); err != nil {
		return fmt.Errorf("base URL: %w", err)
	}
	u, _ := url.Parse(base)
	if u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(base, "?") || strings.HasSuffix(base, "#") {
		return fmt.Errorf("base URL %q: no query or fragment; give the scheme, host and optional path prefix", base)
	}
	return nil
}

func readLinks(path string) ([]Link, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read enrollment links: %w", err)
	}
	var f linksFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("enrollment links %s: %w", path, err)
	}
	return f.Links, nil
}

// linkStore is the server's view of the links file, re-read when the file
// changes, so a bundle run while serving needs no restart.
type linkStore struct {
	path string

	mu     sync.Mutex
	stamp  string
	byHash map[[sha256.Size]byte]Link
}

// errLinkExpired and errNoLink are the two ways a token fails.
var (
	errNoLink      = errors.New("no such enrollment link")
	errLinkExpired = errors.New("enrollment link expired")
)

// lookup finds the link of token. The map is keyed by the token's SHA-256,
// so the lookup's timing says nothing about how much of a guess was right,
// and the token itself is compared in constant time.
func (s *linkStore) lookup(token string, now time.Time) (Link, error) {
	if len(token) != 2*tokenBytes {
		return Link{}, errNoLink
	}
	links, err := s.load()
	if err != nil {
		return Link{}, err
	}
	l, ok := links[sha256.Sum256([]byte(token))]
	if !ok || subtle.ConstantTimeCompare([]byte(l.Token), []byte(token)) != 1 {
		return Link{}, errNoLink
	}
	if !now.Before(l.Expires) {
		return l, errLinkExpired
	}
	return l, nil
}

func (s *linkStore) load() (map[[sha256.Size]byte]Link, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("enrollment links: %w", err)
	}
	// Every write is a rename of a new file, which has a new modification time.
	stamp := fmt.Sprint(fi.ModTime().UnixNano(), fi.Size())
	if stamp == s.stamp {
		return s.byHash, nil
	}
	links, err := readLinks(s.path)
	if err != nil {
		return nil, err
	}
	m := make(map[[sha256.Size]byte]Link, len(links))
	for _, l := range links {
		m[sha256.Sum256([]byte(l.Token))] = l
	}
	s.stamp, s.byHash = stamp, m
	return m, nil
}
