package testtool

import (
	"bytes"
	"sync"
)

// Buffer is an output buffer that goroutines write while a test reads it:
// a child process's stdout copied by exec, a server's log.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
