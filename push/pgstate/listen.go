package pgstate

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pushca/pushca/push/state"
)

// The listener's reconnect backoff: quick after a blip, bounded so an
// outage costs the server at most one attempt every maxBackoff.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// dialFunc connects the listener.
type dialFunc func(context.Context) (*pgx.Conn, error)

// listener holds the connection that LISTENs on the channel and raises
// what the other endpoints notify to this one's subscribers.
type listener struct {
	db     *DB
	config *pgx.ConnConfig
	// dial, when set, wraps how it connects (tests hold a reconnect).
	dial func(context.Context, dialFunc) (*pgx.Conn, error)
}

// name is the listener's application_name, which tells it apart in
// pg_stat_activity.
func (l *listener) name() string { return applicationName + "-listen-" + l.db.instance }

// connect opens a connection and LISTENs on it.
func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	dial := func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, l.config) }
	var (
		conn *pgx.Conn
		err  error
	)
	if l.dial != nil {
		conn, err = l.dial(ctx, dial)
	} else {
		conn, err = dial(ctx)
	}
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}

// run receives on conn until ctx ends. When the connection fails it
// reconnects, backing off, and then raises Resync: NOTIFY has no replay,
// so whatever was notified meanwhile is lost, and the subscribers read the
// sequences again instead. Nothing else is ever polled.
func (l *listener) run(ctx context.Context, conn *pgx.Conn) {
	for {
		err := l.receive(ctx, conn)
		conn.Close(context.WithoutCancel(ctx))
		if ctx.Err() != nil {
			return
		}
		l.db.log.Warn("push change feed: lost the PostgreSQL listening connection; reconnecting, then held Pings re-read their folders", "server", l.db.addr, "err", err)
		if conn = l.reconnect(ctx); conn == nil {
			return
		}
		l.db.log.Info("push change feed: listening again; re-checking held Pings", "server", l.db.addr)
		l.db.feed.Raise(ctx, state.Change{Kind: state.Resync})
	}
}

// reconnect tries until it connects or ctx ends (nil).
func (l *listener) reconnect(ctx context.Context) *pgx.Conn {
	wait := minBackoff
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		conn, err := l.connect(ctx)
		if err == nil {
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		l.db.log.Warn("push change feed: reconnect failed", "server", l.db.addr, "retry_in", min(2*wait, maxBackoff), "err", err)
		wait = min(2*wait, maxBackoff)
	}
}

// receive raises every other endpoint's notification until conn fails.
func (l *listener) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		from, c, err := decode(n.Payload)
		if err != nil {
			l.db.log.Error("push change feed: a notification this version cannot read; ignored", "err", err)
			continue
		}
		if from == l.db.instance {
			continue // raised here when it was made
		}
		l.db.feed.Raise(ctx, c)
	}
}
