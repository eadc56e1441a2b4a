// Package bytea has the Go type of protoloop's binary columns.
package bytea

import (
	"bytes"
	"database/sql/driver"
	"fmt"
)

// Bytes is the value of a bytea column: the SHA-256 of a token or an
// invite link. Every bytes field of the ent schema has this Go type
// (field.Bytes(…).GoType(bytea.Bytes(nil))), and hand-written SQL passes
// a bytea parameter as one.
//
// The type is what tells the PostgreSQL driver (server/storage) how to
// send a value. It sends every statement with its parameters in one round
// trip, without first asking the server the parameters' types, so it must
// know the format from the Go value: a Bytes goes in binary, as bytea;
// any other []byte (ent's encoding of a JSON field, for a jsonb column)
// goes as text. A plain []byte passed for a bytea column would be read as
// bytea's text form, so it must not be.
type Bytes []byte

// Value implements driver.Valuer, for the drivers that take a bytea value
// as any []byte (SQLite's). It also keeps ent from converting a Bytes to
// a plain []byte in its predicates, which would lose the type.
func (b Bytes) Value() (driver.Value, error) {
	if b == nil {
		return nil, nil
	}
	return []byte(b), nil
}

// Scan implements sql.Scanner.
func (b *Bytes) Scan(src any) error {
	switch src := src.(type) {
	case nil:
		*b = nil
	case []byte:
		*b = bytes.Clone(src)
	case string:
		*b = Bytes(src)
	default:
		return fmt.Errorf("bytea: cannot scan %T", src)
	}
	return nil
}
