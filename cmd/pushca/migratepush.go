package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/internal/atomicfile"
	"github.com/pushca/pushca/push"
	"github.com/pushca/pushca/push/pgstate"
	"github.com/pushca/pushca/push/state"
)

// pushState is where pushca serve keeps its users and device records for
// one database: the users file and push/devices.db beside bbolt, the
// tables beside PostgreSQL.
type pushState struct {
	users   state.UserSource
	devices state.Devices
	close   func() error
}

// openPushState opens the push state of the directory dir on the
// database dsn ("" for bbolt).
func openPushState(c *cli.Context, dir, dsn string) (*pushState, error) {
	if dsn == "" {
		if err := atomicfile.MkdirAll(filepath.Dir(push.DevicesPath(dir))); err != nil {
			return nil, err
		}
		devices, err := state.OpenBoltDevices(push.DevicesPath(dir), logger(c))
		if err != nil {
			return nil, err
		}
		return &pushState{users: state.FileUsers(push.UsersPath(dir)), devices: devices, close: devices.Close}, nil
	}
	db, users, err := openShared(c.Context, dsn, logger(c))
	if err != nil {
		return nil, err
	}
	return &pushState{users: users, devices: db.Devices(), close: db.Close}, nil
}

// openShared opens the push state and the users table every serve on the
// PostgreSQL database dsn shares.
func openShared(ctx context.Context, dsn string, log *slog.Logger) (*pgstate.DB, *pgstate.Users, error) {
	db, err := pgstate.Open(ctx, dsn, log)
	if err != nil {
		return nil, nil, err
	}
	users, err := pgstate.OpenUsers(ctx, db.Pool())
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, users, nil
}

// movedPush is what migratePush copied.
type movedPush struct {
	Users   int `json:"users"`
	Devices int `json:"devices"`
}

// migratePush copies serve's users and device records from where they
// are beside the database from to where serve reads them beside to, once
// the CA has moved: without them every login would fail after a
// migration. A user the target already has with another password stops
// the copy unless force. The source is left as it was.
func migratePush(c *cli.Context, dir, from, to string, force bool) (movedPush, error) {
	var moved movedPush
	if from == "" {
		// Nothing to copy from a directory serve never ran on.
		_, errU := os.Stat(push.UsersPath(dir))
		_, errD := os.Stat(push.DevicesPath(dir))
		if errors.Is(errU, fs.ErrNotExist) && errors.Is(errD, fs.ErrNotExist) {
			return moved, nil
		}
	}
	src, err := openPushState(c, dir, from)
	if err != nil {
		return moved, fmt.Errorf("open serve's users and devices: %w", err)
	}
	defer src.close()
	dst, err := openPushState(c, dir, to)
	if err != nil {
		return moved, fmt.Errorf("open serve's users and devices on the target: %w", err)
	}
	err = copyPush(c.Context, src, dst, force, &moved)
	return moved, errors.Join(err, dst.close())
}

func copyPush(ctx context.Context, src, dst *pushState, force bool, moved *movedPush) error {
	users, err := src.users.Read(ctx, nil)
	if err != nil {
		return fmt.Errorf("read the users of %s: %w", src.users, err)
	}
	for name, hash := range users {
		err := dst.users.Edit(ctx, name, func(cur []byte) ([]byte, error) {
			if cur != nil && !bytes.Equal(cur, hash) && !force {
				return nil, fmt.Errorf("user %s is in %s already, with another password (--force replaces it)", name, dst.users)
			}
			return hash, nil
		})
		if err != nil {
			return fmt.Errorf("copy user %s: %w", name, err)
		}
		moved.Users++
	}
	devs, err := src.devices.List(ctx)
	if err != nil {
		return fmt.Errorf("read the device records: %w", err)
	}
	for _, d := range devs {
		// Update stamps LastSeen, the moment of the copy.
		if _, err := dst.devices.Update(ctx, d.User, d.ID, func(rec *state.Device) { *rec = d }); err != nil {
			return fmt.Errorf("copy the record of %s's device %s: %w", d.User, d.ID, err)
		}
		moved.Devices++
	}
	return nil
}
