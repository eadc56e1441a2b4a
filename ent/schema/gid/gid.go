// Package gid defines protoloop's identifiers: 63-bit integers whose top
// seven bits name the entity type and whose low 56 bits are random.
//
// Keys stay 8-byte integers (cheap joins and indexes on both databases),
// yet they cannot be enumerated by counting, never collide across tables,
// and a global ID alone says which table to read. Over GraphQL an ID is
// written as "<prefix>_<10 base62 digits>", e.g. "fb_4fG7hK2pQz".
package gid

import (
	"crypto/rand"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrInvalid is returned for a string that is not a protoloop ID.
var ErrInvalid = errors.New("not a protoloop ID")

// ID is the primary key of every protoloop entity.
type ID int64

// Type is the seven-bit tag of an entity type.
type Type uint8

// The entity types. Their values are stored inside every ID: never renumber.
const (
	Workspace   Type = 1
	User        Type = 2
	Membership  Type = 3
	Prototype   Type = 4
	Iteration   Type = 5
	Participant Type = 6
	Invite      Type = 7
	Trial       Type = 8
	Feedback    Type = 9
	Comment     Type = 10
	Vote        Type = 11
	Event       Type = 12
	AuthToken   Type = 13
	AlertRule   Type = 14
	Webhook     Type = 15
	// WebhookDelivery is one POST of one event to one webhook.
	WebhookDelivery Type = 16
)

type typeInfo struct {
	prefix string // what a global ID starts with
	table  string // the SQL table, which entgql's Noder switches on
}

// types is indexed by Type: an array, not a map, because every ID written
// or read looks its type up here. A Type is eight bits (seven for IDs that
// are not negative), so any one indexes it safely.
var types = [256]typeInfo{
	Workspace:       {"ws", "workspaces"},
	User:            {"usr", "users"},
	Membership:      {"mem", "memberships"},
	Prototype:       {"pro", "prototypes"},
	Iteration:       {"itr", "iterations"},
	Participant:     {"par", "participants"},
	Invite:          {"inv", "invites"},
	Trial:           {"tri", "trials"},
	Feedback:        {"fb", "feedbacks"},
	Comment:         {"cmt", "comments"},
	Vote:            {"vot", "votes"},
	Event:           {"evt", "events"},
	AuthToken:       {"tok", "auth_tokens"},
	AlertRule:       {"alr", "alert_rules"},
	Webhook:         {"whk", "webhooks"},
	WebhookDelivery: {"whd", "webhook_deliveries"},
}

var byPrefix = func() map[string]Type {
	m := make(map[string]Type, len(types))
	for t, info := range types {
		if info.prefix == "" {
			continue
		}
		m[info.prefix] = Type(t)
	}
	return m
}()

const (
	randomBits = 56
	randomMask = 1<<randomBits - 1
	digits     = 10 // base62 digits for 56 bits: 62^10 > 2^56
	alphabet   = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// New returns a fresh random ID of type t. With 56 random bits a table
// of ten million rows has a chance of about 1 in 1,400 of ever drawing a
// key twice; the primary key rejects that insert rather than overwrite.
func New(t Type) ID {
	var b [8]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		panic(fmt.Sprintf("gid: reading random bytes: %v", err)) // crypto/rand does not fail on supported platforms
	}
	return ID(int64(t)<<randomBits | int64(binary.LittleEndian.Uint64(b[:])&randomMask))
}

// Generator returns a default function for ent's ID fields of type t.
func Generator(t Type) func() ID {
	return func() ID { return New(t) }
}

// Type returns the entity type an ID belongs to.
func (id ID) Type() Type { return Type(uint64(id) >> randomBits) }

// Table returns the SQL table of the ID's entity, or "" if the ID carries
// no known type.
func (id ID) Table() string { return types[id.Type()].table }

// String returns the global form of the ID.
func (id ID) String() string {
	var buf [maxLen]byte
	return string(id.appendGlobal(buf[:0]))
}

// maxLen is the length of the longest global form: a prefix of at most
// three letters, "_", and the digits.
const maxLen = 3 + 1 + digits

// appendGlobal appends the global form of the ID to b.
func (id ID) appendGlobal(b []byte) []byte {
	info := types[id.Type()]
	if info.prefix == "" || id < 0 {
		return strconv.AppendInt(append(b, "invalid_"...), int64(id), 10)
	}
	b = append(b, info.prefix...)
	b = append(b, '_')
	var buf [digits]byte
	n := uint64(id) & randomMask
	for i := digits - 1; i >= 0; i-- {
		buf[i] = alphabet[n%62]
		n /= 62
	}
	return append(b, buf[:]...)
}

// Parse decodes the global form of an ID. Only the canonical spelling
// produced by String is accepted, so every ID has exactly one form.
func Parse(s string) (ID, error) {
	prefix, body, ok := strings.Cut(s, "_")
	t, known := byPrefix[prefix]
	if !ok || !known || len(body) != digits {
		return 0, fmt.Errorf("%q: %w", s, ErrInvalid)
	}
	var n uint64
	for i := 0; i < len(body); i++ {
		d := digitValue[body[i]]
		if d < 0 {
			return 0, fmt.Errorf("%q: %w", s, ErrInvalid)
		}
		n = n*62 + uint64(d)
	}
	if n > randomMask {
		return 0, fmt.Errorf("%q: %w", s, ErrInvalid)
	}
	return ID(int64(t)<<randomBits | int64(n)), nil
}

// digitValue maps a byte to its value as a base62 digit, -1 if it is none.
var digitValue = func() (v [256]int8) {
	for i := range v {
		v[i] = -1
	}
	for i := range len(alphabet) {
		v[alphabet[i]] = int8(i)
	}
	return v
}()

// MarshalGQL writes the ID as a GraphQL ID (a quoted string). A global
// form is letters, digits, "_" and "-", which JSON needs no escapes for.
//
// A writer with room to spare (the executor's bytes.Buffer) gets the ID
// appended in that room: a buffer of our own would escape to the heap
// through the io.Writer, one allocation per ID in a response.
func (id ID) MarshalGQL(w io.Writer) {
	// Without room for the longest ID, appending would allocate a slice
	// and Write grow the buffer as well: two allocations, not one.
	if aw, ok := w.(availableBufferWriter); ok && cap(aw.AvailableBuffer()) >= maxLen+2 {
		b := append(aw.AvailableBuffer(), '"')
		_, _ = aw.Write(append(id.appendGlobal(b), '"'))
		return
	}
	id.marshalGQLVia(w)
}

// availableBufferWriter is a writer that lends its spare capacity to be
// appended to and then written (bytes.Buffer, bufio.Writer).
type availableBufferWriter interface {
	io.Writer
	AvailableBuffer() []byte
}

// marshalGQLVia writes the ID to a writer without room to lend, through a
// buffer that escapes (kept out of MarshalGQL, so that its fast path does
// not allocate it).
func (id ID) marshalGQLVia(w io.Writer) {
	var buf [maxLen + 2]byte
	b := append(buf[:0], '"')
	b = append(id.appendGlobal(b), '"')
	_, _ = w.Write(b)
}

// UnmarshalGQL reads a GraphQL ID. It also takes an ID as is, which is how
// entgql's generated Noder hands it over.
func (id *ID) UnmarshalGQL(v any) error {
	if same, ok := v.(ID); ok {
		*id = same
		return nil
	}
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("an ID must be a string, not %T: %w", v, ErrInvalid)
	}
	parsed, err := Parse(s)
	if err != nil {
		return err
	}
	*id = parsed
	return nil
}

// Value stores the ID as a plain integer.
func (id ID) Value() (driver.Value, error) { return int64(id), nil }

// Scan reads an ID stored as an integer.
func (id *ID) Scan(src any) error {
	switch v := src.(type) {
	case int64:
		*id = ID(v)
	case ID:
		*id = v
	case *ID: // ent's bulk create hands back the value it generated
		if v == nil {
			return fmt.Errorf("gid: cannot scan a nil *ID")
		}
		*id = *v
	case nil:
		*id = 0
	default:
		return fmt.Errorf("gid: cannot scan %T into an ID", src)
	}
	return nil
}
