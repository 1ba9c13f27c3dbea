package ca

import (
	"github.com/smallstep/nosql"
	"github.com/smallstep/nosql/database"
)

// pgCalls is how many calls boundedDB lets into nosql's PostgreSQL driver
// at once: database/sql's default of idle connections, which the driver
// keeps and pushca cannot change (it never sees the *sql.DB).
const pgCalls = 2

// boundedDB admits at most cap(slots) calls into the database at once. On
// PostgreSQL a call beyond the idle connections makes database/sql open a
// new server session and close it after, which costs more than the call
// itself; waiting for a connection to come back costs less, and the group
// commit above merges the writers that wait into one transaction.
type boundedDB struct {
	nosql.DB
	slots chan struct{}
}

func newBoundedDB(db nosql.DB, n int) *boundedDB {
	return &boundedDB{DB: db, slots: make(chan struct{}, n)}
}

func (b *boundedDB) enter() func() {
	b.slots <- struct{}{}
	return func() { <-b.slots }
}

func (b *boundedDB) Get(bucket, key []byte) ([]byte, error) {
	defer b.enter()()
	return b.DB.Get(bucket, key)
}

func (b *boundedDB) Set(bucket, key, value []byte) error {
	defer b.enter()()
	return b.DB.Set(bucket, key, value)
}

func (b *boundedDB) CmpAndSwap(bucket, key, oldValue, newValue []byte) ([]byte, bool, error) {
	defer b.enter()()
	return b.DB.CmpAndSwap(bucket, key, oldValue, newValue)
}

func (b *boundedDB) Del(bucket, key []byte) error {
	defer b.enter()()
	return b.DB.Del(bucket, key)
}

func (b *boundedDB) List(bucket []byte) ([]*database.Entry, error) {
	defer b.enter()()
	return b.DB.List(bucket)
}

func (b *boundedDB) Update(tx *database.Tx) error {
	defer b.enter()()
	return b.DB.Update(tx)
}

func (b *boundedDB) CreateTable(bucket []byte) error {
	defer b.enter()()
	return b.DB.CreateTable(bucket)
}

func (b *boundedDB) DeleteTable(bucket []byte) error {
	defer b.enter()()
	return b.DB.DeleteTable(bucket)
}
