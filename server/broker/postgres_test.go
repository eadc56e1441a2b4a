package broker_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/protoloop/protoloop/server/broker"
	"github.com/protoloop/protoloop/server/servertest"
)

// listenURL returns the URL of s's PostgreSQL schema, naming the LISTEN
// connection it opens uniquely, so that the test can find it in
// pg_stat_activity among the other tests' ones.
func listenURL(t *testing.T, s *servertest.Server) (dsn, appName string) {
	t.Helper()
	return servertest.NamedSchemaURL(t, s, "pltest-listen-")
}

// listening waits until the LISTEN connection named appName is up, and
// returns its backend's pid.
func listening(t *testing.T, s *servertest.Server, appName string) int {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		var pid int
		err := s.DB.SQL.QueryRow(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, appName).Scan(&pid)
		if err == nil {
			return pid
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no LISTEN connection %q after %v", appName, wait)
	return 0
}

// A broker that nothing but PostgreSQL's notifications wakes (its poll is
// an hour, and the server publishes to a broker of its own) stands for a
// second server process on the same database.
func TestNotificationsWakeOtherProcessesAndLosingThemLosesNothing(t *testing.T) {
	s := servertest.Start(t, servertest.Postgres)
	w := newWorld(t, s)
	dsn, appName := listenURL(t, s)
	b, _ := start(t, s, broker.Options{Poll: time.Hour, PostgresURL: dsn})
	listening(t, s, appName)

	stored := w.stored(t)
	ctx, cancel := context.WithCancel(w.ownerCtx(context.Background()))
	defer cancel()
	ch, err := b.Subscribe(ctx, broker.Request{Workspace: w.workspace, After: stored[len(stored)-1].Seq})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a commit elsewhere is delivered", func(t *testing.T) {
		const n = 20
		latencies := make([]time.Duration, n)
		for i := range n {
			began := time.Now()
			w.comment(t, w.loop.Owner.Token, 1)
			receive(t, ch, 1)
			latencies[i] = time.Since(began)
		}
		slices.Sort(latencies)
		t.Logf("commit over HTTP to delivery in another process: median %v, max %v", latencies[n/2], latencies[n-1])
	})

	t.Run("killing the LISTEN connection loses nothing", func(t *testing.T) {
		before := len(w.stored(t))
		// Kill the connection over and over while events are committed, so
		// that some commits are surely notified to nobody.
		stop := make(chan struct{})
		var killer sync.WaitGroup
		killer.Add(1)
		kills := 0
		go func() {
			defer killer.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				res, err := s.DB.SQL.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, appName)
				if err == nil {
					if n, _ := res.RowsAffected(); n > 0 {
						kills++
					}
				}
			}
		}()
		const commits = 20
		for range commits {
			w.comment(t, w.loop.Owner.Token, 2)
			time.Sleep(3 * time.Millisecond)
		}
		close(stop)
		killer.Wait()
		t.Logf("the LISTEN connection was killed %d times during %d commits", kills, commits)
		if kills == 0 {
			t.Fatal("the LISTEN connection was never killed")
		}

		want := w.stored(t)[before:]
		sameSeqs(t, receive(t, ch, len(want)), want)

		// And it is back: the next commit is notified.
		listening(t, s, appName)
		w.comment(t, w.loop.Owner.Token, 1)
		got := receive(t, ch, 1)
		if all := w.stored(t); got[0].Seq != all[len(all)-1].Seq {
			t.Errorf("got seq %d, want the last one, %d", got[0].Seq, all[len(all)-1].Seq)
		}
		quiet(t, ch, 50*time.Millisecond)
	})
}

// A LISTEN connection whose path died without a word (no FIN, no RST:
// a dropped NAT mapping) is taken for deaf at the first unanswered ping,
// which tells the identity cache to stop trusting what it holds
// (Options.OnListening), and replaced by a new connection once it stays
// silent two pings longer.
func TestASilentlyDeadLISTENConnectionIsReplacedAtTheNextPing(t *testing.T) {
	proxy, expect := listenThroughProxy(t, 100*time.Millisecond)
	expect(true)
	proxy.Stall()
	expect(false)
	expect(true)
}

// A LISTEN connection slow to answer a ping (a starved database) is not
// trusted while it is late, and trusted again once it answers, without
// a new connection and the read of the table that follows one.
func TestASlowLISTENConnectionIsTrustedAgainWhenItAnswers(t *testing.T) {
	proxy, expect := listenThroughProxy(t, 200*time.Millisecond)
	expect(true)
	dials := proxy.Accepted()
	// A ping held back past its deadline but released before the
	// connection is taken for dead: trusted again, on the same connection.
	proxy.Hold()
	expect(false)
	proxy.Release()
	expect(true)
	if n := proxy.Accepted(); n != dials {
		t.Errorf("the broker dialled %d more connections, want none: a slow connection is not replaced", n-dials)
	}
}

// listenThroughProxy starts a broker whose LISTEN connection goes through
// a proxy and is pinged every ping, and returns the proxy and a function
// that fails t unless the broker's next OnListening says want.
func listenThroughProxy(t *testing.T, ping time.Duration) (*servertest.Proxy, func(want bool)) {
	s := servertest.Start(t, servertest.Postgres)
	dsn, _ := listenURL(t, s)
	proxy, viaProxy := servertest.PostgresProxy(t, dsn)
	heard := make(chan bool, 16)
	start(t, s, broker.Options{
		Poll:        time.Hour,
		PostgresURL: viaProxy,
		Ping:        ping,
		OnListening: func(up bool) { heard <- up },
	})
	return proxy, func(want bool) {
		t.Helper()
		select {
		case up := <-heard:
			if up != want {
				t.Fatalf("OnListening(%v), want OnListening(%v)", up, want)
			}
		case <-time.After(wait):
			t.Fatalf("no OnListening(%v) in %v", want, wait)
		}
	}
}
