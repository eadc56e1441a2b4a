package storage_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/user"
	"github.com/protoloop/protoloop/server/storage"
)

// Columns a modifier selects (a rank, a score, a joined table's) are
// scanned by ent with the type database/sql reports for them, which it
// asks for once per such column and row. Each row must not pay for the
// whole list of column types again: its allocations stay those of its
// values.
//
// Allocations are counted with the dialects in turn (eachDialectInTurn).
func TestModifierColumnsCostLittlePerRow(t *testing.T) {
	eachDialectInTurn(t, func(t *testing.T, opts storage.Options) {
		db := openMigrated(t, opts)
		ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
		const rows = 100
		creates := make([]*ent.UserCreate, rows)
		for i := range creates {
			creates[i] = db.Client.User.Create().
				SetEmail(fmt.Sprintf("user%03d@example.org", i)).SetName(fmt.Sprintf("User %d", i)).SetPasswordHash("x")
		}
		if _, err := db.Client.User.CreateBulk(creates...).Save(ctx); err != nil {
			t.Fatal(err)
		}
		read := func(limit int) []*ent.User {
			users, err := db.Client.User.Query().Order(user.ByEmail()).Limit(limit).
				Modify(func(s *entsql.Selector) {
					s.AppendSelectExprAs(entsql.Expr("UPPER("+s.C(user.FieldName)+")"), "shout")
					s.AppendSelectExprAs(entsql.Expr("LENGTH("+s.C(user.FieldEmail)+")"), "email_length")
					s.AppendSelectAs(s.C(user.FieldID), "again")
				}).
				All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return users
		}
		users := read(rows)
		if len(users) != rows {
			t.Fatalf("read %d users, want %d", len(users), rows)
		}
		for _, u := range []*ent.User{users[0], users[rows-1]} {
			shout, err1 := u.Value("shout")
			length, err2 := u.Value("email_length")
			again, err3 := u.Value("again")
			if err1 != nil || err2 != nil || err3 != nil {
				t.Fatalf("modifier columns of %s: %v, %v, %v", u.Email, err1, err2, err3)
			}
			if shout != fmt.Sprint("USER ", u.Name[5:]) || fmt.Sprint(length) != fmt.Sprint(len(u.Email)) || fmt.Sprint(again) != fmt.Sprint(int64(u.ID)) {
				t.Errorf("modifier columns of %s = %v, %v, %v; want its name upper-cased, %d, %d", u.Email, shout, length, again, len(u.Email), u.ID)
			}
		}
		few := testing.AllocsPerRun(20, func() { read(10) })
		many := testing.AllocsPerRun(20, func() { read(rows) })
		perRow := (many - few) / (rows - 10)
		t.Logf("%.1f allocations per row (%.0f for 10 rows, %.0f for %d)", perRow, few, many, rows)
		// A user, its strings, the three extra values and the map ent
		// keeps them in, with what database/sql and the driver allocate
		// per value: 25 on PostgreSQL, 34 on SQLite. Listing the
		// columns' types again for each extra column added 30 more.
		if perRow > 45 {
			t.Errorf("%.1f allocations per row with 3 modifier columns, want at most 45", perRow)
		}
	})
}

// The pool's connections go to the client's statements in the order
// they asked for one (database/sql alone hands a freed connection to a
// random waiter): with one connection, held by a transaction, five reads
// that asked one after the other, each once the one before waits, get it
// one after the other.
func TestStatementsGetConnectionsInTheOrderTheyAsked(t *testing.T) {
	db, ctx, tx := heldPool(t)
	const readers = 5
	var (
		mu    sync.Mutex
		order []int
		wg    sync.WaitGroup
	)
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := db.Client.User.Query().All(ctx); err != nil {
				t.Errorf("reader %d: %v", i, err)
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		}()
		// It waits before the next asks.
		for deadline := time.Now().Add(10 * time.Second); db.QueueStats().Waiting <= int64(i); {
			if time.Now().After(deadline) {
				t.Fatalf("reader %d is not waiting for the connection after 10 s", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, r := range order {
		if r != i {
			t.Fatalf("readers got the connection in the order %v, want the order they asked in", order)
		}
	}
	if q := db.QueueStats(); q.Waiting != 0 || q.Waits != readers || q.Waited <= 0 {
		t.Errorf("QueueStats = %+v; want none waiting now, and the %d readers' waits", q, readers)
	}
}

// A statement waiting for its turn gives up when its context ends, with a
// timeout, as one waiting in database/sql's pool does.
func TestAStatementWaitingItsTurnEndsWithTheContext(t *testing.T) {
	db, ctx, tx := heldPool(t)
	defer tx.Rollback()
	wait, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := db.Client.User.Query().All(wait); !storage.IsTimeout(err) {
		t.Fatalf("with the one connection held: %v, want a timeout", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("gave up after %v", took)
	}
	// The turn it did not get is not lost: once the transaction ends, the
	// next statement runs.
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Client.User.Query().All(ctx); err != nil {
		t.Fatalf("after the transaction: %v", err)
	}
}

// heldPool opens a migrated PostgreSQL database whose pool has one
// connection, and holds it in a transaction, which the caller ends. ctx
// passes every privacy rule.
func heldPool(t *testing.T) (*storage.DB, context.Context, *ent.Tx) {
	t.Helper()
	db := openMigrated(t, storage.Options{DatabaseURL: postgresURL(t), MaxConns: 1})
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	tx, err := db.Client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return db, ctx, tx
}
