package storage

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/lib/pq"

	"github.com/protoloop/protoloop/ent/schema/bytea"
)

// NewPostgresConnector returns a connector for database/sql
// (sql.OpenDB) that opens lib/pq connections to the database at url, a
// postgres:// URL, and sends every statement with its parameters in one
// round trip.
//
// By default lib/pq sends a statement with parameters in two: Parse and
// Describe, to learn the parameters' types, then Bind and Execute. With
// binary_parameters it sends Parse, Bind, Describe and Execute at once,
// and the server infers the types from the statement as before; what
// changes is that lib/pq no longer knows them, so the format of each
// parameter must follow from its Go type. lib/pq sends a []byte in binary
// and everything else as text, which is wrong for the []byte that ent
// makes of a JSON field (binary jsonb starts with a version byte). These
// connections therefore send:
//
//   - a bytea.Bytes (every bytes field of the ent schema, the hashes of
//     tokens and invites) in binary, as bytea;
//   - any other []byte, and whatever a driver.Valuer makes into one, as
//     text: JSON for a jsonb column;
//   - everything else as lib/pq does.
//
// A plain []byte meant for a bytea column would be read as bytea's text
// form: pass a bytea.Bytes (TestBytesFieldsAreBytea holds the schema's).
// Both the server and the load tool's hand-written SQL use this connector,
// so that the two compare on the same protocol.
func NewPostgresConnector(url string) (driver.Connector, error) {
	cfg, err := pq.NewConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.BinaryParameters = true
	c, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, err
	}
	return pgConnector{c}, nil
}

type pgConnector struct{ pq *pq.Connector }

var _ driver.Connector = pgConnector{}

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.pq.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := cn.(pqConn)
	if !ok {
		// A lib/pq that drops one of these would silently lose the
		// one-round-trip path (database/sql would prepare instead), or
		// session resets: fail loudly.
		return nil, errors.Join(fmt.Errorf("storage: lib/pq connection %T lacks a driver interface protoloop relies on", cn), cn.Close())
	}
	return &pgConn{pc}, nil
}

func (c pgConnector) Driver() driver.Driver { return c.pq.Driver() }

// pqConn is what a lib/pq connection implements and database/sql looks
// for; pgConn passes all of it on.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.NamedValueChecker
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// pgConn is a lib/pq connection that chooses each parameter's format by
// its Go type (see NewPostgresConnector).
type pgConn struct{ pqConn }

var _ pqConn = (*pgConn)(nil)

// CheckNamedValue implements driver.NamedValueChecker.
func (c *pgConn) CheckNamedValue(nv *driver.NamedValue) error {
	if b, ok := nv.Value.(bytea.Bytes); ok {
		if b == nil {
			nv.Value = nil
		} else {
			nv.Value = []byte(b) // lib/pq sends a []byte in binary
		}
		return nil
	}
	err := c.pqConn.CheckNamedValue(nv)
	if errors.Is(err, driver.ErrSkip) {
		nv.Value, err = driver.DefaultParameterConverter.ConvertValue(nv.Value)
	}
	if err != nil {
		return err
	}
	if b, ok := nv.Value.([]byte); ok {
		if b == nil {
			nv.Value = nil
		} else {
			nv.Value = string(b)
		}
	}
	return nil
}
