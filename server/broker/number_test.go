package broker_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/protoloop/protoloop/server/broker"
	"github.com/protoloop/protoloop/server/servertest"
)

// TestNumberingFunctionUsesLockKeyAndChannel reads the numbering function
// as the migrations created it: it must take the events lock every
// process takes (LockKey, which tests and tools take too) and notify on
// the channel every process listens on.
func TestNumberingFunctionUsesLockKeyAndChannel(t *testing.T) {
	s := servertest.Start(t, servertest.Postgres)
	var def string
	if err := s.DB.SQL.QueryRow(`SELECT pg_get_functiondef('protoloop_number_events'::regproc)`).Scan(&def); err != nil {
		t.Fatalf("read the numbering function: %v", err)
	}
	for _, want := range []string{
		"pg_advisory_xact_lock(" + strconv.FormatInt(broker.LockKey, 10) + ")",
		"pg_notify('" + broker.Channel + "'",
	} {
		if !strings.Contains(def, want) {
			t.Errorf("the numbering function lacks %q:\n%s", want, def)
		}
	}
}
