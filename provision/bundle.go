package provision

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pushca/pushca/profile"
)

// Bundle turns a user list into what each person needs on enrollment day.
// The same inputs always give the same bytes, except signed .mobileconfig
// files, whose CMS signing time changes.
type Bundle struct {
	// Chains are the CA's chains by family: each device kind's packages
	// carry the root, and the Windows Mobile ones the intermediates of
	// their family's chain too.
	Chains Chains
	// Server is the Exchange host name; Domain the default Windows domain.
	Server, Domain string
	// Devices are the device kinds of users whose row names none.
	Devices []string
	Signer  *Signer
	// MSZIP compresses the CABs (refused when a user has a wm5 device).
	MSZIP bool
	// Combined puts the certificates into each account CAB instead of a
	// shared root CAB: one file to tap, but a copy of the root per user.
	Combined bool
	// Zip writes users/FOLDER.zip holding the shared files too, for mailing
	// one attachment per person, instead of a folder per user.
	Zip bool
	// URL gives a user's enrollment link and its expiry, drawn as a QR code
	// and printed on the sheet; nil makes sheets without. It is called from
	// several goroutines at once.
	URL func(User) (string, time.Time, error)
	// Version and Inputs go into the manifest as given.
	Version string
	Inputs  map[string]string
	// Workers bounds the users built at once; 0 is runtime.GOMAXPROCS.
	Workers int
	// Progress is called after each user from one goroutine; may be nil.
	Progress func(done, total int)
}

// Shared file names inside a bundle.
const (
	sharedDir = "shared"
	usersDir  = "users"
	rootCRT   = "root.crt"
	sheetName = "index.html"
	qrName    = "qr.png"
	iosName   = "exchange.mobileconfig"
)

type outFile struct {
	name string
	data []byte
}

// shared is what every user's package refers to, built once.
type shared struct {
	rootCAB, crt *outFile
	pages        *HTMLPages
	stamp        time.Time
}

// Write builds every user's files under dir and then dir/manifest.json.
// Files already holding the right bytes are left alone, so a run killed
// midway is finished by running it again; files the previous manifest
// listed that this run no longer makes are removed when they still hold
// what it recorded. Nothing is written or removed through a link, and an
// existing dir must be the caller's own and closed to group and others.
// skipped are rows the caller dropped, recorded in the manifest.
func (b Bundle) Write(ctx context.Context, dir string, users []User, skipped []RowError) (*Manifest, error) {
	if err := (Account{Server: b.Server, User: "check", Domain: b.Domain}).check(); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if len(users) == 0 {
		return nil, errors.New("bundle: no users")
	}
	if _, err := ParseDevices(strings.Join(b.Devices, " ")); err != nil || len(b.Devices) == 0 {
		return nil, fmt.Errorf("bundle: default device kinds %q: want some of %s", b.Devices, strings.Join(deviceKinds, ", "))
	}
	if err := b.Chains.check(); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	// Every user is checked before anything is written: a person whose
	// phone could not trust the server gets no package rather than a
	// useless one.
	var unserved []error
	for _, u := range users {
		if err := b.CheckUser(u); err != nil {
			unserved = append(unserved, RowError{Line: u.Line, User: u.Name, Reason: err.Error()})
		}
	}
	if len(unserved) > 0 {
		return nil, fmt.Errorf("bundle: %w", errors.Join(unserved...))
	}
	sh, err := b.shared(users)
	if err != nil {
		return nil, err
	}
	out, err := openOut(dir)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	old, err := out.readManifest()
	if err != nil {
		return nil, err
	}
	if err := out.removeTemps(); err != nil {
		return nil, err
	}
	m := &Manifest{Version: b.Version, Inputs: b.Inputs, Users: len(users), Skipped: skipped}
	root := b.Chains.Root()
	m.Root.Subject = root.Subject.String()
	m.Root.SHA256, m.Root.SHA1 = SHA256(root).Colon(), SHA1(root).Colon()
	var written []string
	if !b.Zip {
		files, err := writeShared(out, sh)
		if err != nil {
			return nil, err
		}
		m.Files = append(m.Files, files...)
		for _, f := range files {
			written = append(written, f.Path)
		}
	}

	work := make(chan User)
	results := make(chan []ManifestFile)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(work)
		for _, u := range users {
			select {
			case work <- u:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	workers := b.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	wg, wctx := errgroup.WithContext(gctx)
	for range workers {
		wg.Go(func() error {
			for u := range work {
				files, err := b.writeUser(wctx, out, sh, u)
				if err != nil {
					return err
				}
				select {
				case results <- files:
				case <-wctx.Done():
					return wctx.Err()
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		err := wg.Wait()
		close(results)
		return err
	})
	done := 0
	for files := range results {
		m.Files = append(m.Files, files...)
		for _, f := range files {
			written = append(written, f.Path)
		}
		done++
		if b.Progress != nil {
			b.Progress(done, len(users))
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.SortFunc(m.Files, func(a, b ManifestFile) int { return strings.Compare(a.Path, b.Path) })
	if err := syncWritten(out, written); err != nil {
		return nil, err
	}
	if old != nil {
		out.removeStale(old, m)
	}
	data, err := m.encode()
	if err != nil {
		return nil, err
	}
	if err := out.replace(ManifestName, data, true); err != nil {
		return nil, err
	}
	return m, nil
}

// writeShared writes the shared root files, if the users need any, and
// returns their manifest entries.
func writeShared(out *outDir, sh *shared) ([]ManifestFile, error) {
	var entries []ManifestFile
	var dir *outDir
	for _, f := range []*outFile{sh.rootCAB, sh.crt} {
		if f == nil {
			continue
		}
		if dir == nil {
			var err error
			if dir, err = out.sub(sharedDir); err != nil {
				return nil, err
			}
			defer dir.Close()
		}
		if err := dir.writeIfChanged(f.name, f.data); err != nil {
			return nil, err
		}
		entries = append(entries, entry(path.Join(sharedDir, f.name), "", f.data))
	}
	return entries, nil
}

// shared builds the root CAB and .crt that users refer to, for the device
// kinds the users actually have.
func (b Bundle) shared(users []User) (*shared, error) {
	pages, err := sheetPages()
	if err != nil {
		return nil, err
	}
	root := b.Chains.Root()
	sh := &shared{pages: pages, stamp: root.NotBefore.UTC()}
	var all []string
	for _, u := range users {
		all = append(all, b.devices(u)...)
	}
	wm, p, ok, err := b.wmPackage(all)
	if err != nil {
		return nil, err
	}
	if ok && !b.Combined {
		pkg, err := WMDocument{Chain: &wm}.Package(CABOptions{Profile: p, MSZIP: b.MSZIP, Signer: b.Signer})
		if err != nil {
			return nil, fmt.Errorf("root CAB: %w", err)
		}
		sh.rootCAB = &outFile{"root" + pkg.Ext, pkg.Data}
	}
	if slices.Contains(all, "android") {
		// Android installs the root alone; the server sends the rest.
		pkg, err := Android(Chain{Root: root}, rootCRT)
		if err != nil {
			return nil, err
		}
		sh.crt = &outFile{rootCRT, pkg.CRT}
	}
	return sh, nil
}

// wmPackage is the chain and the profile of the Windows Mobile packages for
// the device kinds: the strictest Windows Mobile profile among them decides
// the CAB rules (stored when any is a wm5), so one CAB installs on every
// version listed, and its family's chain goes into the CertificateStore.
// ok is false when none of the kinds is a Windows Mobile one.
func (b Bundle) wmPackage(devices []string) (c Chain, p profile.Profile, ok bool, err error) {
	var wm []string
	for _, d := range devices {
		if strings.HasPrefix(d, "wm") {
			wm = append(wm, d)
		}
	}
	if len(wm) == 0 {
		return Chain{}, profile.Profile{}, false, nil
	}
	if p, err = profile.Strictest(wm); err != nil {
		return Chain{}, profile.Profile{}, false, err
	}
	if c, err = b.Chains.For(p.Name); err != nil {
		return Chain{}, profile.Profile{}, false, err
	}
	return c, p, true, nil
}

// CheckUser says whether the chains serve every device kind of u; a
// *FamilyError names the kinds they cannot and the families that would.
func (b Bundle) CheckUser(u User) error {
	return b.Chains.serve(b.devices(u))
}

func (b Bundle) devices(u User) []string {
	if len(u.Devices) > 0 {
		return u.Devices
	}
	return b.Devices
}

// writeUser builds and writes one user's files, returning their manifest
// entries.
func (b Bundle) writeUser(ctx context.Context, out *outDir, sh *shared, u User) ([]ManifestFile, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var copies []outFile
	files, err := b.userFiles(sh, u, func(f *outFile) string {
		if b.Zip {
			copies = append(copies, *f)
			return f.name
		}
		return "../../" + sharedDir + "/" + f.name
	})
	if err != nil {
		return nil, fmt.Errorf("line %d (user %s): %w", u.Line, clip(u.Name), err)
	}
	folder := u.Folder()
	if b.Zip {
		files = append(files, copies...)
		sortFiles(files)
		data, err := zipFiles(folder, files, sh.stamp)
		if err != nil {
			return nil, fmt.Errorf("user %s: %w", clip(u.Name), err)
		}
		dir, err := out.sub(usersDir)
		if err != nil {
			return nil, err
		}
		defer dir.Close()
		if err := dir.writeIfChanged(folder+".zip", data); err != nil {
			return nil, err
		}
		return []ManifestFile{entry(path.Join(usersDir, folder+".zip"), u.Name, data)}, nil
	}
	dir, err := out.sub(path.Join(usersDir, folder))
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	entries := make([]ManifestFile, 0, len(files))
	for _, f := range files {
		if err := dir.writeIfChanged(f.name, f.data); err != nil {
			return nil, err
		}
		entries = append(entries, entry(path.Join(usersDir, folder, f.name), u.Name, f.data))
	}
	return entries, nil
}

// userFiles are the user's own files, sorted by name, the sheet among them;
// the sheet links to the user's files by name and to the shared ones
// through sharedHref.
func (b Bundle) userFiles(sh *shared, u User, sharedHref func(*outFile) string) ([]outFile, error) {
	a := Account{Server: b.Server, User: u.Name, Domain: or(u.Domain, b.Domain), Email: u.Email}
	devices := b.devices(u)
	sheet := Sheet{Chain: Chain{Root: b.Chains.Root()}, Account: a, DisplayName: u.DisplayName, Devices: devices, Combined: b.Combined}
	var files []outFile
	for _, d := range devices {
		switch {
		case d == "android":
			sheet.Links.RootCRT = sharedHref(sh.crt)
		case d == "ios":
			data, err := b.mobileconfig(&a)
			if err != nil {
				return nil, err
			}
			files = append(files, outFile{iosName, data})
			sheet.Links.Mobileconfig = iosName
		}
	}
	wm, p, ok, err := b.wmPackage(devices)
	if err != nil {
		return nil, err
	}
	if ok {
		// The sheet tells what the CAB installing the certificates puts
		// into which store.
		sheet.Chain = wm
		doc := WMDocument{Account: &a}
		if b.Combined {
			doc.Chain = &wm
		} else {
			sheet.Links.RootCAB = sharedHref(sh.rootCAB)
		}
		if doc.Sync, err = DefaultSyncOptions(p); err != nil {
			return nil, err
		}
		pkg, err := doc.Package(CABOptions{Profile: p, MSZIP: b.MSZIP, Signer: b.Signer})
		if err != nil {
			return nil, err
		}
		name := "account" + pkg.Ext
		files = append(files, outFile{name, pkg.Data})
		sheet.Links.AccountCAB = name
	}
	if b.URL != nil {
		url, expires, err := b.URL(u)
		if err != nil {
			return nil, err
		}
		png, err := QRPNG(url)
		if err != nil {
			return nil, err
		}
		files = append(files, outFile{qrName, png})
		sheet.URL, sheet.QR, sheet.Expires = url, png, expires
	}
	var html bytes.Buffer
	if err := sheet.Render(&html, sh.pages); err != nil {
		return nil, err
	}
	files = append(files, outFile{sheetName, html.Bytes()})
	sortFiles(files)
	return files, nil
}

func sortFiles(files []outFile) {
	slices.SortFunc(files, func(x, y outFile) int { return strings.Compare(x.name, y.name) })
}

// UserPage is what a user's enrollment page serves: the sheet, and the
// user's own files by name (account CAB, .mobileconfig, QR code). The
// sheet links to those by their bare names and to the shared root files
// through rootHref, which is given a name of RootFiles.
func (b Bundle) UserPage(u User, rootHref func(name string) string) (sheet []byte, files map[string][]byte, err error) {
	if err := b.Chains.check(); err != nil {
		return nil, nil, err
	}
	if err := b.CheckUser(u); err != nil {
		return nil, nil, fmt.Errorf("user %s: %w", clip(u.Name), err)
	}
	sh, err := b.shared([]User{u})
	if err != nil {
		return nil, nil, err
	}
	out, err := b.userFiles(sh, u, func(f *outFile) string { return rootHref(f.name) })
	if err != nil {
		return nil, nil, fmt.Errorf("user %s: %w", clip(u.Name), err)
	}
	files = make(map[string][]byte, len(out))
	for _, f := range out {
		if f.name == sheetName {
			sheet = f.data
		} else {
			files[f.name] = f.data
		}
	}
	return sheet, files, nil
}

// RootFiles are the root downloads for those of the bundle's default device
// kinds the chains serve, by file name: the root CAB (Windows Mobile),
// root.crt (Android) and a root-only root.mobileconfig (iOS). An enrollment
// landing page offers them before the device trusts anything; a kind whose
// chain family the CA lacks gets no file, since its devices could install
// the root and still not trust the server. view describes the root, and
// whether the root CAB installs intermediates too.
func (b Bundle) RootFiles() (files map[string][]byte, view RootView, err error) {
	if err := b.Chains.check(); err != nil {
		return nil, RootView{}, err
	}
	var kinds []string
	for _, d := range b.Devices {
		_, err := b.Chains.For(d)
		var fe *FamilyError
		switch {
		case err == nil:
			kinds = append(kinds, d)
		case !errors.As(err, &fe):
			return nil, RootView{}, err
		}
	}
	files = map[string][]byte{}
	view = NewRootView(Chain{Root: b.Chains.Root()})
	if len(kinds) == 0 {
		return files, view, nil
	}
	sh, err := b.shared([]User{{Devices: kinds}})
	if err != nil {
		return nil, RootView{}, err
	}
	for _, f := range []*outFile{sh.rootCAB, sh.crt} {
		if f != nil {
			files[f.name] = f.data
		}
	}
	if wm, _, ok, err := b.wmPackage(kinds); err != nil {
		return nil, RootView{}, err
	} else if ok {
		view = NewRootView(wm)
	}
	if slices.Contains(kinds, "ios") {
		data, err := b.mobileconfig(nil)
		if err != nil {
			return nil, RootView{}, err
		}
		files["root.mobileconfig"] = data
	}
	return files, view, nil
}

// mobileconfig is the iOS profile installing the root, with the account a
// unless it is nil, signed when the bundle has a signer.
func (b Bundle) mobileconfig(a *Account) ([]byte, error) {
	c, err := b.Chains.For("ios")
	if err != nil {
		return nil, err
	}
	data, err := Mobileconfig{Chain: c, Account: a}.Plist()
	if err != nil || b.Signer == nil {
		return data, err
	}
	ios, err := profile.Get("ios")
	if err != nil {
		return nil, err
	}
	return SignMobileconfig(data, b.Signer, SignatureHash(ios))
}

// zipFiles packs files under folder/ with fixed times, so the archive's
// bytes depend on the contents alone.
func zipFiles(folder string, files []outFile, stamp time.Time) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		method := zip.Deflate
		if strings.HasSuffix(f.name, ".png") || strings.HasSuffix(f.name, ".cab") || strings.HasSuffix(f.name, ".cpf") {
			method = zip.Store // already compressed or tiny and binary
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: folder + "/" + f.name, Method: method, Modified: stamp})
		if err != nil {
			return nil, fmt.Errorf("zip %s: %w", f.name, err)
		}
		if _, err := w.Write(f.data); err != nil {
			return nil, fmt.Errorf("zip %s: %w", f.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("zip: %w", err)
	}
	return buf.Bytes(), nil
}

func entry(name, user string, data []byte) ManifestFile {
	sum := sha256.Sum256(data)
	return ManifestFile{Path: name, Size: len(data), SHA256: hex.EncodeToString(sum[:]), User: user}
}
