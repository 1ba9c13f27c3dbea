package pgstate

import (
	"context"
	"fmt"
	"time"

	"github.com/pushca/pushca/push/state"
)

// mailbox is the DB seen as a state.Store.
type mailbox DB

var _ state.Store = (*mailbox)(nil)

// deliverSQL takes the folder's next sequence, stores the message, drops
// what is past the newest state.MaxMessagesPerFolder, and notifies the
// other endpoints, in one statement and so one transaction: a listener
// hears of the message only once it can be read. The trim cannot see the
// row inserted beside it, and needs not: it drops older ones only.
const deliverSQL = `
WITH f AS (
	INSERT INTO pushca_push_folders AS f (user_name, folder, seq) VALUES ($1, $2, 1)
	ON CONFLICT (user_name, folder) DO UPDATE SET seq = f.seq + 1
	RETURNING seq
), m AS (
	INSERT INTO pushca_push_messages (user_name, folder, seq, id, sender, recipient, subject, body, received)
	SELECT $1, $2, f.seq, $2 || ':' || nextval('pushca_push_message_ids'), $3, $4, $5, $6, $7 FROM f
	RETURNING seq, id
), dropped AS (
	DELETE FROM pushca_push_messages
	WHERE user_name = $1 AND folder = $2 AND seq <= (SELECT seq FROM f) - $8
), n AS (
	SELECT pg_notify($9, $10 || m.seq || ']') FROM m
)
SELECT m.seq, m.id FROM m, n`

// Deliver implements state.Mailbox.
func (s *mailbox) Deliver(ctx context.Context, user, folder string, m state.Message) (state.Message, error) {
	prefix, err := seqPrefix(s.instance, user, folder)
	if err != nil {
		return state.Message{}, err
	}
	if m.Received.IsZero() {
		m.Received = time.Now()
	}
	// As PostgreSQL keeps it, so that Since returns what Deliver did.
	m.Received = m.Received.UTC().Truncate(time.Microsecond)
	var seq int64
	err = s.pool.QueryRow(ctx, deliverSQL, user, folder, m.From, m.To, m.Subject, m.Body, m.Received,
		state.MaxMessagesPerFolder, channel, prefix).Scan(&seq, &m.ID)
	if err != nil {
		return state.Message{}, (*DB)(s).wrap(fmt.Sprintf("deliver to %s's folder %s", user, folder), err)
	}
	m.Seq = uint64(seq)
	s.feed.Raise(ctx, state.Change{Kind: state.FolderChanged, User: user, Folder: folder, Seq: m.Seq})
	return m, nil
}

// Since implements state.Mailbox. One statement, so one snapshot: the
// sequence returned is never behind the messages.
func (s *mailbox) Since(ctx context.Context, user, folder string, seq uint64) ([]state.Message, uint64, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT f.seq, m.seq, m.id, m.sender, m.recipient, m.subject, m.body, m.received
		FROM pushca_push_folders f
		LEFT JOIN pushca_push_messages m ON m.user_name = f.user_name AND m.folder = f.folder AND m.seq > $3
		WHERE f.user_name = $1 AND f.folder = $2
		ORDER BY m.seq`, user, folder, int64(seq))
	if err != nil {
		return nil, 0, (*DB)(s).wrap("read "+user+"'s folder "+folder, err)
	}
	defer rows.Close()
	var (
		out []state.Message
		cur int64
	)
	for rows.Next() {
		var (
			mseq                        *int64
			id, from, to, subject, body *string
			received                    *time.Time
		)
		if err := rows.Scan(&cur, &mseq, &id, &from, &to, &subject, &body, &received); err != nil {
			return nil, 0, (*DB)(s).wrap("read "+user+"'s folder "+folder, err)
		}
		if mseq == nil {
			continue // the folder's row, joined to no message
		}
		out = append(out, state.Message{ID: *id, Seq: uint64(*mseq), From: *from, To: *to, Subject: *subject, Body: *body, Received: received.UTC()})
	}
	if err := rows.Err(); err != nil {
		return nil, 0, (*DB)(s).wrap("read "+user+"'s folder "+folder, err)
	}
	return out, uint64(cur), nil
}

// Seqs implements state.Mailbox.
func (s *mailbox) Seqs(ctx context.Context, users []string) (map[string]map[string]uint64, error) {
	rows, err := s.pool.Query(ctx, `SELECT user_name, folder, seq FROM pushca_push_folders WHERE user_name = ANY($1) AND seq > 0`, users)
	if err != nil {
		return nil, (*DB)(s).wrap("read the folders' sequences", err)
	}
	defer rows.Close()
	out := map[string]map[string]uint64{}
	for rows.Next() {
		var (
			user, folder string
			seq          int64
		)
		if err := rows.Scan(&user, &folder, &seq); err != nil {
			return nil, (*DB)(s).wrap("read the folders' sequences", err)
		}
		if out[user] == nil {
			out[user] = map[string]uint64{}
		}
		out[user][folder] = uint64(seq)
	}
	if err := rows.Err(); err != nil {
		return nil, (*DB)(s).wrap("read the folders' sequences", err)
	}
	return out, nil
}

// Subscribe implements state.Feed.
func (s *mailbox) Subscribe(fn func(context.Context, state.Change)) (stop func()) {
	return s.feed.Subscribe(fn)
}

// Publish implements state.Feed: this endpoint's subscribers hear c now,
// the others' through their listeners.
func (s *mailbox) Publish(ctx context.Context, c state.Change) error {
	payload, err := encode(s.instance, c)
	if err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, "SELECT pg_notify($1, $2)", channel, string(payload)); err != nil {
		return (*DB)(s).wrap("publish a change", err)
	}
	s.feed.Raise(ctx, c)
	return nil
}
