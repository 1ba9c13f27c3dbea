package push

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/push/ping"
)

// parkedConn is the connection of a held Ping after the handler hijacked
// it. One small goroutine reads the socket under TLS, first to notice the
// device going away while the Ping is held, then, once the answer is
// written, to wait for the device's next request: only when it arrives is
// the connection handed back to net/http, so an answer is just a write,
// and a connection between requests costs no HTTP goroutine or buffers.
type parkedConn struct {
	conn      net.Conn
	sock      *sockConn // under TLS; nil if the connection did not come through reaccept
	keepAlive bool
	conns     *reaccept // nil: close after the answer
	log       *slog.Logger

	mu    sync.Mutex
	state parkState
	// watching: the reading goroutine runs.
	watching bool
	// spoiled: bytes arrived while the Ping was held (or were buffered at
	// the hijack); the connection is closed after the answer rather than
	// served again out of step.
	spoiled bool
	// next: the device's next request began while the answer was being
	// written; the writer hands the connection back when done.
	next bool
	// gone: the connection ended while the answer was being written.
	gone bool
}

type parkState int

const (
	parkHeld      parkState = iota // the Ping is held
	parkAnswering                  // its answer is being written
	parkIdle                       // answered; waiting for the next request
	parkDone                       // handed back or closed
)

// hijack takes the connection out of net/http.
func (c *call) hijack() (*parkedConn, error) {
	conn, brw, err := http.NewResponseController(c.w).Hijack()
	if err != nil {
		return nil, fmt.Errorf("hijack the Ping's connection: %w", err)
	}
	p := &parkedConn{
		conn: conn, keepAlive: !c.r.Close, conns: c.h.conns, log: c.h.log,
		spoiled: brw.Reader.Buffered() > 0,
	}
	if tc, ok := conn.(*tls.Conn); ok {
		p.sock, _ = tc.NetConn().(*sockConn)
	}
	if p.sock == nil || p.conns == nil || !p.conns.park(conn) {
		p.conns = nil
	}
	return p, nil
}

// watch starts the reading goroutine unless the Ping is already answered.
func (p *parkedConn) watch(held *ping.Held) {
	p.mu.Lock()
	if p.state != parkHeld || p.sock == nil {
		p.mu.Unlock()
		return
	}
	p.watching = true
	p.mu.Unlock()
	go p.read(held)
}

// read waits for the socket under TLS to end or to speak. Nothing should
// arrive while the Ping is held, so no record needs decrypting, and the
// goroutine stays on a small stack (the TLS read path doubled it, 2 KB a
// held Ping). A byte that arrives is given back to the socket, for TLS to
// read as the start of the next record.
func (p *parkedConn) read(held *ping.Held) {
	var b [1]byte
	n, err := p.sock.Conn.Read(b[:])
	if n > 0 {
		p.sock.unread(b[0])
	}
	p.mu.Lock()
	p.watching = false
	state := p.state
	switch {
	case state == parkHeld:
		p.spoiled = true
	case state == parkAnswering && n > 0:
		p.next = true
	case state == parkAnswering:
		p.gone = true
	case state == parkIdle:
		p.state = parkDone
	}
	p.mu.Unlock()
	switch {
	case state == parkHeld:
		// The device went away, or spoke out of turn: either way the Ping
		// is over, and its answer closes the connection.
		held.Cut()
	case state == parkIdle && n > 0:
		p.sock.Conn.SetReadDeadline(time.Time{})
		p.conns.give(p.conn)
	case state == parkIdle:
		if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, net.ErrClosed) {
			p.log.Debug("parked connection ended", "err", err)
		}
		p.conns.drop(p.conn)
	}
}

// answer writes m as the HTTP response, then waits for the device's next
// request on the connection (or closes it).
func (p *parkedConn) answer(m eas.Message) {
	p.mu.Lock()
	p.state = parkAnswering
	p.mu.Unlock()
	err := p.write(m)
	p.conn.SetWriteDeadline(time.Time{})
	p.mu.Lock()
	reuse := err == nil && p.keepAlive && !p.spoiled && !p.gone && p.conns != nil
	switch {
	case !reuse:
		p.state = parkDone
		p.mu.Unlock()
		p.close()
	case p.next || !p.watching:
		// The request is here, or nobody reads: net/http serves it.
		p.state = parkDone
		p.mu.Unlock()
		p.conns.give(p.conn)
	default:
		p.state = parkIdle
		// net/http's idle timeout, which the connection is now out of.
		p.sock.Conn.SetReadDeadline(time.Now().Add(idleTimeout))
		p.mu.Unlock()
	}
}

func (p *parkedConn) close() {
	if p.conns != nil {
		p.conns.drop(p.conn)
		return
	}
	p.conn.Close()
}

func (p *parkedConn) write(m eas.Message) error {
	body, err := eas.Marshal(m)
	if err != nil {
		p.log.Error("encode Ping answer", "err", err)
		return err
	}
	h := http.Header{}
	setActiveSyncHeaders(h)
	h.Set("Content-Type", eas.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	if !p.keepAlive {
		h.Set("Connection", "close")
	}
	var buf bytes.Buffer
	buf.WriteString("HTTP/1.1 200 OK\r\n")
	h.Write(&buf)
	buf.WriteString("\r\n")
	buf.Write(body)
	p.conn.SetWriteDeadline(time.Now().Add(writeSlack))
	_, err = p.conn.Write(buf.Bytes())
	return err
}
