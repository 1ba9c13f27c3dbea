package push

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// reaccept is the TLS listener of the ActiveSync server, which also hands
// back connections the handler hijacked: a parked Ping leaves net/http (and
// its goroutine, buffers and background reader) and, once answered and
// spoken to again, its connection is accepted again so the device's next
// request on it is served as on a fresh one.
type reaccept struct {
	net.Listener // TCP
	tls          *tls.Config
	log          *slog.Logger
	accepted     chan acceptResult
	done         chan struct{}
	once         sync.Once

	// back queues answered connections without bound: a broadcast hands
	// back thousands at once, and an answer must never wait for the
	// server's single accept loop.
	mu     sync.Mutex
	back   []net.Conn
	closed bool
	ready  chan struct{} // capacity 1: back is not empty
	// parked are the hijacked connections, closed with the listener.
	parked map[net.Conn]struct{}
}

// sockConn is an accepted TCP connection that can take back one byte: a
// parked connection's reader reads the socket under TLS to notice the
// device leaving, and the byte it gets when the device speaks instead is
// the first of the next request's record. Only one goroutine reads at a
// time: the parked reader, then, after give, net/http.
type sockConn struct {
	net.Conn
	peeked []byte
}

func (s *sockConn) Read(b []byte) (int, error) {
	if len(s.peeked) > 0 && len(b) > 0 {
		n := copy(b, s.peeked)
		s.peeked = s.peeked[n:]
		return n, nil
	}
	return s.Conn.Read(b)
}

func (s *sockConn) unread(b byte) { s.peeked = append(s.peeked, b) }

type acceptResult struct {
	c   net.Conn
	err error
}

func newReaccept(ln net.Listener, cfg *tls.Config, log *slog.Logger) *reaccept {
	r := &reaccept{
		Listener: ln, tls: cfg, log: log, accepted: make(chan acceptResult), done: make(chan struct{}),
		ready: make(chan struct{}, 1), parked: map[net.Conn]struct{}{},
	}
	go r.pump()
	return r
}

// Back-off of the accept loop after an error such as EMFILE: the pending
// connection stays in the kernel's queue, so retrying at once would spin.
const (
	acceptRetryMin = 5 * time.Millisecond
	acceptRetryMax = time.Second
	// acceptLogEvery spaces the error lines while the errors last.
	acceptLogEvery = 10 * time.Second
)

// pump feeds Accept until the listener is closed. Any other error is
// retried here, never handed to net/http: its Serve would call Accept
// again, and wait there for a connection a stopped pump never delivers.
// While the errors last (they come and go as connections close), one line
// every acceptLogEvery says how many there were.
func (r *reaccept) pump() {
	var (
		retry    time.Duration
		logged   time.Time
		unlogged int
	)
	for {
		c, err := r.Listener.Accept()
		if err != nil && !errors.Is(err, net.ErrClosed) {
			unlogged++
			retry = min(max(2*retry, acceptRetryMin), acceptRetryMax)
			if now := time.Now(); now.Sub(logged) >= acceptLogEvery {
				r.log.Error("TLS listener cannot accept connections; retrying (if too many files are open, raise the limit: ulimit -n, LimitNOFILE)",
					"err", err, "errors", unlogged, "retry_in", retry)
				logged, unlogged = now, 0
			}
			t := time.NewTimer(retry)
			select {
			case <-t.C:
				continue
			case <-r.done:
				t.Stop()
				return
			}
		}
		if err == nil {
			retry = 0
			c = tls.Server(&sockConn{Conn: c}, r.tls)
		}
		select {
		case r.accepted <- acceptResult{c, err}:
		case <-r.done:
			if c != nil {
				c.Close()
			}
			return
		}
		if err != nil {
			return
		}
	}
}

func (r *reaccept) Accept() (net.Conn, error) {
	for {
		if c := r.next(); c != nil {
			return c, nil
		}
		select {
		case <-r.ready:
		case a := <-r.accepted:
			return a.c, a.err
		case <-r.done:
			return nil, net.ErrClosed
		}
	}
}

// next takes the oldest handed-back connection, if any.
func (r *reaccept) next() net.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.back) == 0 {
		return nil
	}
	c := r.back[0]
	r.back[0] = nil
	r.back = r.back[1:]
	if len(r.back) == 0 {
		r.back = nil
	}
	return c
}

func (r *reaccept) Close() error {
	var err error
	r.once.Do(func() {
		close(r.done)
		err = r.Listener.Close()
		r.mu.Lock()
		back := r.back
		for c := range r.parked {
			back = append(back, c)
		}
		r.back, r.parked, r.closed = nil, nil, true
		r.mu.Unlock()
		for _, c := range back {
			c.Close()
		}
	})
	return err
}

// park records a hijacked connection, to be closed with the listener; false
// when the listener is closed already.
func (r *reaccept) park(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.parked[c] = struct{}{}
	return true
}

// drop closes a parked connection.
func (r *reaccept) drop(c net.Conn) {
	r.mu.Lock()
	delete(r.parked, c)
	r.mu.Unlock()
	c.Close()
}

// give returns a parked connection to be served again, or closes it when
// the listener is closing.
func (r *reaccept) give(c net.Conn) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		c.Close()
		return
	}
	delete(r.parked, c)
	r.back = append(r.back, c)
	r.mu.Unlock()
	select {
	case r.ready <- struct{}{}:
	default:
	}
}
