package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
)

// Websocket opcodes (RFC 6455 5.2) a server sends.
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xa
)

// maxFrame bounds a frame's payload: the fan-out's messages are a few
// hundred bytes, and a length beyond this is a stream out of step.
const maxFrame = 1 << 20

// frameReader splits the bytes a server sends on a websocket into its
// frames. The fan-out's subscribers read their sockets themselves rather
// than through gorilla (see subscriber.receive): a frame that a read
// leaves incomplete waits in pending, the only memory a subscriber keeps
// between reads.
type frameReader struct {
	pending []byte
}

// feed calls f with each frame that data completes, in order, and keeps
// what is left of data for the next call. The payload f gets is data's,
// or pending's: it must not keep it. A frame feed cannot read (masked,
// fragmented, with reserved bits, too long) is an error, and so is one of
// f's, which ends the feed.
func (r *frameReader) feed(data []byte, f func(opcode byte, payload []byte) error) error {
	if len(r.pending) > 0 {
		r.pending = append(r.pending, data...)
		data = r.pending
	}
	for {
		opcode, payload, n, err := nextFrame(data)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if err := f(opcode, payload); err != nil {
			return err
		}
		data = data[n:]
	}
	switch {
	case len(data) == 0:
		r.pending = r.pending[:0]
		if cap(r.pending) > 4096 {
			r.pending = nil
		}
	case len(r.pending) > 0:
		r.pending = r.pending[:copy(r.pending, data)]
	default:
		r.pending = append(r.pending, data...)
	}
	return nil
}

// nextFrame reads the frame data starts with: its opcode and payload,
// and its size with its header; a size of 0 when data holds only part of
// it.
func nextFrame(data []byte) (opcode byte, payload []byte, size int, err error) {
	if len(data) < 2 {
		return 0, nil, 0, nil
	}
	b0, b1 := data[0], data[1]
	switch {
	case b0&0x80 == 0:
		return 0, nil, 0, fmt.Errorf("websocket: a fragmented frame (opcode %#x)", b0&0xf)
	case b0&0x70 != 0:
		return 0, nil, 0, fmt.Errorf("websocket: reserved bits set (%#x)", b0)
	case b1&0x80 != 0:
		return 0, nil, 0, fmt.Errorf("websocket: a masked frame from the server")
	}
	header, n := 2, uint64(b1&0x7f)
	switch n {
	case 126:
		if len(data) < 4 {
			return 0, nil, 0, nil
		}
		header, n = 4, uint64(binary.BigEndian.Uint16(data[2:]))
	case 127:
		if len(data) < 10 {
			return 0, nil, 0, nil
		}
		header, n = 10, binary.BigEndian.Uint64(data[2:])
	}
	if n > maxFrame {
		return 0, nil, 0, fmt.Errorf("websocket: a frame of %d bytes", n)
	}
	size = header + int(n)
	if len(data) < size {
		return 0, nil, 0, nil
	}
	return b0 & 0xf, data[header:size], size, nil
}

// appendClientFrame appends an unfragmented frame as a client sends it:
// masked, with a random key (RFC 6455 5.3).
func appendClientFrame(b []byte, opcode byte, payload []byte) []byte {
	const masked = 0x80
	b = append(b, 0x80|opcode)
	switch n := len(payload); {
	case n <= 125:
		b = append(b, masked|byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, masked|126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, masked|127), uint64(n))
	}
	key := binary.LittleEndian.AppendUint32(nil, rand.Uint32())
	b = append(b, key...)
	for i, c := range payload {
		b = append(b, c^key[i&3])
	}
	return b
}
