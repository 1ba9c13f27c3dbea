package push

import (
	"net"
	"sync"
)

// reaccept is a listener that also hands back connections the handler
// hijacked: a parked Ping leaves net/http (and its goroutine, buffers and
// background reader) and, once answered, its connection is accepted again
// so the device's next request on it is served as on a fresh one.
type reaccept struct {
	net.Listener
	back     chan net.Conn
	accepted chan acceptResult
	done     chan struct{}
	once     sync.Once
}

type acceptResult struct {
	c   net.Conn
	err error
}

func newReaccept(ln net.Listener) *reaccept {
	r := &reaccept{Listener: ln, back: make(chan net.Conn, 1024), accepted: make(chan acceptResult), done: make(chan struct{})}
	go r.pump()
	return r
}

func (r *reaccept) pump() {
	for {
		c, err := r.Listener.Accept()
		select {
		case r.accepted <- acceptResult{c, err}:
		case <-r.done:
			if c != nil {
				c.Close()
			}
			return
		}
		if err != nil {
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				return
			}
		}
	}
}

func (r *reaccept) Accept() (net.Conn, error) {
	select {
	case c := <-r.back:
		return c, nil
	case a := <-r.accepted:
		return a.c, a.err
	case <-r.done:
		return nil, net.ErrClosed
	}
}

func (r *reaccept) Close() error {
	var err error
	r.once.Do(func() {
		close(r.done)
		err = r.Listener.Close()
		for {
			select {
			case c := <-r.back:
				c.Close()
			default:
				return
			}
		}
	})
	return err
}

// give returns an answered connection to be served again, or closes it
// when the listener is closing.
func (r *reaccept) give(c net.Conn) {
	select {
	case r.back <- c:
	case <-r.done:
		c.Close()
	}
}
