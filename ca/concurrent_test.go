package ca

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentIssuance issues for distinct hosts and for the same host
// from many goroutines at once, then renews one host from several: each
// host must end with exactly one active certificate that its link points
// at and that openssl accepts through its chain.pem, every certificate must
// be in both the inventory and step-ca's table, and all of it must survive
// a reopen with nothing left to repair.
func TestConcurrentIssuance(t *testing.T) {
	ctx := context.Background()
	c := newCA(t, "legacy")
	csr, _ := opensslCSR(t, "x")

	const distinct, same, forced = 8, 6, 4
	var reqs []IssueRequest
	for i := 0; i < distinct; i++ {
		reqs = append(reqs, IssueRequest{Host: fmt.Sprintf("d%d.example.com", i), CSR: csr})
	}
	for i := 0; i < same; i++ {
		reqs = append(reqs, IssueRequest{Host: "same.example.com", CSR: csr})
	}
	for i := 0; i < forced; i++ {
		reqs = append(reqs, IssueRequest{Host: "forced.example.com", CSR: csr, Force: true})
	}
	// One host with a key pushca generates, so key.pem is written
	// concurrently with the others too.
	reqs = append(reqs, IssueRequest{Host: "keyed.example.com"})
	errs := make([]error, len(reqs))
	var start, wg sync.WaitGroup
	start.Add(1)
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Wait()
			_, errs[i] = c.Issue(ctx, r)
		}()
	}
	start.Done()
	wg.Wait()
	dup := 0
	for i, err := range errs {
		switch {
		case err == nil:
		case reqs[i].Host == "same.example.com" && strings.Contains(err.Error(), "already has an active certificate"):
			dup++
		default:
			t.Errorf("issue %s: %v", reqs[i].Host, err)
		}
	}
	if dup != same-1 {
		t.Errorf("%d of %d concurrent issuances for one host were refused as duplicates, want %d", dup, same, same-1)
	}

	const renewals = 3
	for i := 0; i < renewals; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Renew(ctx, "d0.example.com"); err != nil {
				t.Errorf("renew: %v", err)
			}
		}()
	}
	wg.Wait()

	want := map[string]int{"same.example.com": 1, "forced.example.com": forced, "keyed.example.com": 1, "d0.example.com": 1 + renewals}
	for i := 1; i < distinct; i++ {
		want[fmt.Sprintf("d%d.example.com", i)] = 1
	}
	checkRecords(t, c, want)
	c.Close()

	c2, err := Open(ctx, c.layout.Dir, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if notes, err := c2.Repair(ctx); err != nil || len(notes) != 0 {
		t.Errorf("repair after reopen: %q, %v", notes, err)
	}
	checkRecords(t, c2, want)
}

// checkRecords checks that each host has the wanted number of records,
// exactly one of them active, linked, in step-ca's table and accepted by
// openssl with the host's chain.pem.
func checkRecords(t *testing.T, c *CA, want map[string]int) {
	t.Helper()
	recs, err := c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got, active := map[string]int{}, map[string][]string{}
	for _, r := range recs {
		got[r.Host]++
		if r.State == StateActive {
			active[r.Host] = append(active[r.Host], r.Serial)
		} else if r.State != StateSuperseded {
			t.Errorf("%s serial %s is %s", r.Host, r.Serial, r.State)
		}
		if _, err := c.db.GetCertificate(r.Serial); err != nil {
			t.Errorf("%s serial %s is not in step-ca's table: %v", r.Host, r.Serial, err)
		}
	}
	for host, n := range want {
		if got[host] != n || len(active[host]) != 1 {
			t.Errorf("%s: %d records, active %v; want %d records, one active", host, got[host], active[host], n)
			continue
		}
		rec, ok, err := c.inv.active(host, firstSlot(c))
		if err != nil || !ok || rec.Serial != active[host][0] {
			t.Errorf("%s: the hosts table names %s (%v, %v), the active record is %s", host, rec.Serial, ok, err, active[host][0])
		}
		link, err := os.Readlink(c.layout.ServerCurrent(host, firstSlot(c)))
		if err != nil || link != active[host][0] {
			t.Errorf("%s: current links to %q (%v), want the active %s", host, link, err, active[host][0])
		}
		if err := opensslVerify(t, c, firstSlot(c), c.layout.ServerCert(host, firstSlot(c)), "-untrusted", c.layout.ServerChain(host, firstSlot(c))); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if len(got) != len(want) {
		t.Errorf("hosts %v, want %v", got, want)
	}
}
