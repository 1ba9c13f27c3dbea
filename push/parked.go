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
)

// parkedConn is the connection of a held Ping after the handler hijacked
// it. While the Ping is held one small goroutine reads it, only to notice
// the device going away; the answer stops that read, writes the HTTP
// response itself and hands the connection back to the server.
type parkedConn struct {
	conn      net.Conn
	keepAlive bool
	back      func(net.Conn) // nil: close after the answer
	log       *slog.Logger

	mu       sync.Mutex
	answered bool
	watching bool
	watched  chan struct{} // closed when the reading goroutine ends
	// spoiled: bytes arrived while the Ping was held (or were buffered
	// at the hijack); the connection is closed after the answer rather
	// than served again out of step.
	spoiled bool
}

// hijack takes the connection out of net/http.
func (c *call) hijack() (*parkedConn, error) {
	conn, brw, err := http.NewResponseController(c.w).Hijack()
	if err != nil {
		return nil, fmt.Errorf("hijack the Ping's connection: %w", err)
	}
	return &parkedConn{
		conn: conn, keepAlive: !c.r.Close, back: c.h.back, log: c.h.log,
		spoiled: brw.Reader.Buffered() > 0,
	}, nil
}

// watch reads the connection until the answer stops it; end or data means
// the device has gone, and the Ping is cut.
func (p *parkedConn) watch(held *Held) {
	p.mu.Lock()
	if p.answered {
		p.mu.Unlock()
		return
	}
	p.watching, p.watched = true, make(chan struct{})
	p.mu.Unlock()
	// Read the socket under TLS: nothing should arrive while the Ping is
	// held, so no record needs decrypting, and the goroutine stays on a
	// small stack (the TLS read path doubled it, 2 KB a held Ping). A
	// device that goes away sends a close alert or just FIN or RST.
	raw := p.conn
	if tc, ok := raw.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	go func() {
		defer close(p.watched)
		var b [1]byte
		n, err := raw.Read(b[:])
		p.mu.Lock()
		stopped := p.answered && errors.Is(err, os.ErrDeadlineExceeded) && n == 0
		p.watching = false
		p.spoiled = p.spoiled || n > 0
		p.mu.Unlock()
		if !stopped {
			held.Cut()
		}
	}()
}

// answer writes m as the HTTP response and serves the connection again.
func (p *parkedConn) answer(m eas.Message) {
	p.mu.Lock()
	p.answered = true
	watching, watched := p.watching, p.watched
	p.mu.Unlock()
	if watching {
		p.conn.SetReadDeadline(time.Now())
		<-watched
		p.conn.SetReadDeadline(time.Time{})
	}
	err := p.write(m)
	p.mu.Lock()
	reuse := err == nil && p.keepAlive && !p.spoiled && p.back != nil
	p.mu.Unlock()
	if !reuse {
		p.conn.Close()
		return
	}
	p.conn.SetWriteDeadline(time.Time{})
	p.back(p.conn)
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
