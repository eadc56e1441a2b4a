//go:build !linux

package main

import "github.com/gorilla/websocket"

// subscriberReaders read the subscribers' sockets: elsewhere than on
// Linux, a goroutine each, blocked in its socket's read between messages.
type subscriberReaders struct{}

func startReaders() (*subscriberReaders, error) { return &subscriberReaders{}, nil }

// add makes conn's socket s's, to write to and close, and has it read
// from now on.
func (r *subscriberReaders) add(s *subscriber, conn *websocket.Conn) error {
	nc := conn.NetConn()
	s.sock = nc
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := nc.Read(buf)
			if !s.consume(buf[:n], err) {
				return
			}
		}
	}()
	return nil
}

// stop does nothing: each reader ends with its socket.
func (r *subscriberReaders) stop() {}
