package enroll

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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pushca/pushca/internal/atomicfile"
	"github.com/pushca/pushca/provision"
)

// LinkPath is the path of every per-user page below the base URL.
const LinkPath = "/u/"

// tokenBytes is 128 bits: links are printed on paper and typed by no one,
// so there is no reason to go shorter.
const tokenBytes = 16

// keepExpired is how long an expired link, revoked or not, stays in the
// file, so that its owner is told it ended (410) rather than that it never
// existed (404).
const keepExpired = 30 * 24 * time.Hour

// Link is one person's enrollment page: the account the page sets up, and
// the random token that is the only thing guarding it.
type Link struct {
	Token       string   `json:"token"`
	URL         string   `json:"url,omitempty"`
	Server      string   `json:"server"`
	User        string   `json:"user"`
	Domain      string   `json:"domain,omitempty"`
	Email       string   `json:"email,omitempty"`
	DisplayName string   `json:"display_name,omitempty"`
	Devices     []string `json:"devices,omitempty"`
	// Owner is the bundle that issued the link (LinkRun.Owner); empty in
	// links issued before links had owners.
	Owner   string    `json:"owner,omitempty"`
	Issued  time.Time `json:"issued,omitzero"`
	Expires time.Time `json:"expires"`
	// Revoked is when a later run of the owner withdrew the link. From then
	// on it answers 410, and it keeps no account details to build files from.
	Revoked time.Time `json:"revoked,omitzero"`
}

type linksFile struct {
	Links []Link `json:"links"`
}

// key identifies the person a link is for: Exchange user names ignore case.
func (l Link) key() string { return strings.ToLower(l.Server) + "\x00" + strings.ToLower(l.User) }

// withdrawn is l revoked at now, with only what tells the admin whose it was.
func (l Link) withdrawn(now time.Time) Link {
	return Link{Token: l.Token, Server: l.Server, User: l.User, Owner: l.Owner, Issued: l.Issued, Expires: l.Expires, Revoked: now.UTC().Truncate(time.Second)}
}

// LinkRun is one bundle run's say over the links file.
type LinkRun struct {
	// Owner names the bundle, by its output directory: a run reuses and
	// revokes only links its own bundle issued, so two bundles made from one
	// CA (two departments, two servers) never withdraw each other's links.
	Owner string
	// Adopt are the people (Server and User) of the owner's previous run,
	// as its manifest lists them: their links without an owner, issued
	// before links had one, count as the owner's.
	Adopt []Link
	// Base is the enrollment site's public URL, TTL a new link's lifetime.
	Base string
	TTL  time.Duration
	Now  time.Time
	// Rotate gives everyone a new token even when their link still works.
	Rotate bool
}

// owns says which links the run may reuse or revoke.
func (r LinkRun) owns() func(Link) bool {
	adopted := make(map[string]bool, len(r.Adopt))
	for _, a := range r.Adopt {
		adopted[a.key()] = true
	}
	return func(l Link) bool { return l.Owner == r.Owner || l.Owner == "" && adopted[l.key()] }
}

func (r LinkRun) live(l Link) bool { return l.Revoked.IsZero() && r.Now.Before(l.Expires) }

// IssueLinks gives each of want (filled but for Token, URL and the times) a
// link below run.Base and saves them all in the file at path. A person the
// owner already gave a working link keeps its token and expiry, so
// re-running a bundle prints the same QR codes, unless run.Rotate; the
// account details are updated to want's. No link is revoked here: the ones
// this run replaces or drops keep working until RevokeLinks, which the
// caller runs once the new sheets are written, so a run that fails midway
// leaves every printed link valid.
func IssueLinks(path string, run LinkRun, want []Link) ([]Link, error) {
	if err := checkBaseURL(run.Base); err != nil {
		return nil, err
	}
	if run.TTL <= 0 {
		return nil, fmt.Errorf("link lifetime %v: want a positive duration", run.TTL)
	}
	all, err := readLinks(path)
	if err != nil {
		return nil, err
	}
	// After a run stopped between issuing and revoking, a person has two
	// working links: the later one is the one to print again. New links go
	// to the end of the file, which settles a tie within one second.
	current, owns := map[string]Link{}, run.owns()
	for _, l := range all {
		if c, ok := current[l.key()]; owns(l) && run.live(l) && (!ok || !l.Issued.Before(c.Issued)) {
			current[l.key()] = l
		}
	}
	out := make([]Link, len(want))
	issued := map[string]bool{}
	for i, w := range want {
		if l, ok := current[w.key()]; ok && !run.Rotate {
			w.Token, w.Issued, w.Expires = l.Token, l.Issued, l.Expires
		} else {
			b := make([]byte, tokenBytes)
			rand.Read(b)
			w.Token, w.Issued, w.Expires = hex.EncodeToString(b), run.Now.UTC().Truncate(time.Second), run.Now.Add(run.TTL).UTC().Truncate(time.Second)
		}
		w.Owner = run.Owner
		w.URL = strings.TrimSuffix(run.Base, "/") + LinkPath + w.Token + "/"
		out[i] = w
		issued[w.Token] = true
	}
	kept := slices.DeleteFunc(all, func(l Link) bool { return issued[l.Token] })
	if err := writeLinks(path, run.Now, append(kept, out...)); err != nil {
		return nil, err
	}
	return out, nil
}

// RevokeLinks withdraws every working link the owner issued that is not
// among printed, the links this run's sheets carry, and returns them: those
// of people no longer in the CSV, and old tokens replaced by new ones. The
// people in spared (Server and User: rows skipped as bad, or everyone listed
// when a run prints no links) keep theirs, unless printed gives them a new one.
func RevokeLinks(path string, run LinkRun, printed, spared []Link) ([]Link, error) {
	all, err := readLinks(path)
	if err != nil {
		return nil, err
	}
	keepToken, hasNew, keepPerson := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, l := range printed {
		keepToken[l.Token], hasNew[l.key()] = true, true
	}
	for _, l := range spared {
		keepPerson[l.key()] = !hasNew[l.key()]
	}
	var revoked []Link
	owns := run.owns()
	for i, l := range all {
		if owns(l) && run.live(l) && !keepToken[l.Token] && !keepPerson[l.key()] {
			all[i] = l.withdrawn(run.Now)
			revoked = append(revoked, all[i])
		}
	}
	if len(revoked) == 0 {
		return nil, nil
	}
	if err := writeLinks(path, run.Now, all); err != nil {
		return nil, err
	}
	return revoked, nil
}

// writeLinks replaces the file at path with links, less those that expired
// more than keepExpired ago. The rename is atomic: the server sees the old
// file or the new one, never a mix.
func writeLinks(path string, now time.Time, links []Link) error {
	links = slices.DeleteFunc(links, func(l Link) bool { return !now.Before(l.Expires.Add(keepExpired)) })
	data, err := json.MarshalIndent(linksFile{Links: links}, "", "  ")
	if err != nil {
		return fmt.Errorf("enrollment links: %w", err)
	}
	if err := atomicfile.MkdirAll(filepath.Dir(path)); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, data, atomicfile.FileMode); err != nil {
		return fmt.Errorf("save enrollment links: %w", err)
	}
	return nil
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

	mu sync.Mutex
	// read is the file byHash was read from.
	read   fs.FileInfo
	byHash map[[sha256.Size]byte]Link
}

// errNoLink, errLinkExpired and errLinkRevoked are the ways a token fails.
var (
	errNoLink      = errors.New("no such enrollment link")
	errLinkExpired = errors.New("enrollment link expired")
	errLinkRevoked = errors.New("enrollment link revoked")
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
	if !l.Revoked.IsZero() {
		return l, errLinkRevoked
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
	// Every write renames a new file into place: another inode, and a new
	// modification time, so a revocation is never missed even where the
	// clock's steps are coarse.
	if s.read != nil && os.SameFile(s.read, fi) && fi.ModTime().Equal(s.read.ModTime()) && fi.Size() == s.read.Size() {
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
	s.read, s.byHash = fi, m
	return m, nil
}
