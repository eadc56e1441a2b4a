//go:build !unix

package server

// tryWrite writes nothing where sockets are not file descriptors written
// with write(2) (Windows): every round's frames go to writeRest, which
// writes them within writeWait, as it does a TLS connection's.
func (c *gorillaConn) tryWrite(*rawWrite, []byte) (int, error) { return 0, nil }

// rawWrite is what a writer worker keeps for tryWrite: nothing here.
type rawWrite struct{}
