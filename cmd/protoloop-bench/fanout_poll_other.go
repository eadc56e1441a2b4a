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

// pollSlot is where a subscriber is read: nowhere shared, here.
type pollSlot struct{}

// drop closes s's socket, which ends its reader.
func (r *subscriberReaders) drop(s *subscriber) { s.close() }

// stop does nothing: each reader ends with its socket.
func (r *subscriberReaders) stop() {}
