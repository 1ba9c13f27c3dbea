package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pushca/pushca/internal/testtool"
)

// child is a long-running pushca (serve, quickstart) started by a test,
// with what it has printed so far.
type child struct {
	cmd            *exec.Cmd
	stdout, stderr testtool.Buffer
	exited         chan struct{}
	err            error // of Wait, once exited is closed
}

// startPushca runs the binary in its own session, bounded to two minutes;
// it is killed when the test ends if it is still running.
func startPushca(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	return startProcess(t, pushcaBin, env, args...)
}

// startProcess is startPushca for any program (the servers an export is
// loaded into).
func startProcess(t *testing.T, path string, env []string, args ...string) *child {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	ch := &child{cmd: exec.CommandContext(ctx, path, args...), exited: make(chan struct{})}
	ch.cmd.Env = append(os.Environ(), env...)
	ch.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	ch.cmd.Stdout, ch.cmd.Stderr = &ch.stdout, &ch.stderr
	if err := ch.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		ch.err = ch.cmd.Wait()
		cancel()
		close(ch.exited)
	}()
	t.Cleanup(func() {
		ch.cmd.Process.Kill()
		<-ch.exited
	})
	return ch
}

// waitFor returns the stdout lines once done accepts them, polling for at
// most a minute; it fails the test if the process exits first.
func (ch *child) waitFor(t *testing.T, done func(lines []string) bool) []string {
	t.Helper()
	for range 600 {
		select {
		case <-ch.exited:
			t.Fatalf("pushca %v exited: %v\nstdout: %s\nstderr: %s", ch.cmd.Args[1:], ch.err, ch.stdout.String(), ch.stderr.String())
		default:
		}
		lines := strings.Split(ch.stdout.String(), "\n")
		if done(lines[:len(lines)-1]) { // the last element is an unfinished line
			return lines[:len(lines)-1]
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("pushca %v did not print what the test waits for within a minute\nstdout: %s\nstderr: %s", ch.cmd.Args[1:], ch.stdout.String(), ch.stderr.String())
	return nil
}

// stop sends sig and fails the test unless the process exits cleanly
// within a minute.
func (ch *child) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := ch.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch.exited:
	case <-time.After(time.Minute):
		t.Fatalf("pushca %v still running a minute after %v", ch.cmd.Args[1:], sig)
	}
	if ch.err != nil {
		t.Fatalf("pushca %v after %v: %v\nstderr: %s", ch.cmd.Args[1:], sig, ch.err, ch.stderr.String())
	}
}

// listenAddrs reads the "Label: scheme://host:port/..." lines serve prints
// into label → host:port.
func listenAddrs(lines []string) map[string]string {
	addrs := map[string]string{}
	for _, l := range lines {
		label, rest, _ := strings.Cut(l, ":")
		f := strings.Fields(rest)
		if len(f) == 0 || !strings.HasPrefix(f[0], "http") {
			continue
		}
		u := strings.TrimPrefix(strings.TrimPrefix(f[0], "https://"), "http://")
		addrs[label] = strings.SplitN(u, "/", 2)[0]
	}
	return addrs
}

// startServe runs `pushca serve` on loopback ports and returns it with the
// addresses of its ActiveSync, Enrollment and Admin API listeners.
func startServe(t *testing.T, dir string, args ...string) (*child, map[string]string) {
	t.Helper()
	args = append([]string{"--dir", dir, "serve", "--https", "127.0.0.1:0", "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0"}, args...)
	srv := startPushca(t, nil, args...)
	lines := srv.waitFor(t, func(lines []string) bool { return len(listenAddrs(lines)) >= 3 })
	return srv, listenAddrs(lines)
}
