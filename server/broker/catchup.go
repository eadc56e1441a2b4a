package broker

import (
	"context"
	"errors"
	"time"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// errQuit stops a catch-up whose subscription has ended.
var errQuit = errors.New("broker: subscription ended")

// startCatchUp switches s to catching up from the table, after position
// from, in a goroutine of its own. Call with b.mu held.
func (b *Broker) startCatchUp(s *subscriber, from int64) {
	s.lagging = true
	s.quit = make(chan struct{})
	b.catchUps.Add(1)
	b.catching.Add(1)
	go b.catchUp(s, from, s.quit)
}

// catchUp delivers the events after last to s from the table, at the
// subscriber's pace, until it has reached the tailer; then it hands s
// back to live delivery. Reading the table as the caller applies the same
// privacy policies as any query, and each event is there exactly once, in
// order, so nothing is missed or repeated at either seam.
func (b *Broker) catchUp(s *subscriber, last int64, quit chan struct{}) {
	defer b.catching.Done()
	for {
		b.mu.Lock()
		if s.ended {
			b.mu.Unlock()
			b.finish(s)
			return
		}
		who, rechecks := s.who, s.rechecks
		target := b.pos
		b.mu.Unlock()

		if rechecks != 0 {
			fresh, err := b.reload(s, who, quit)
			switch {
			case errors.Is(err, errQuit):
				b.finish(s)
				return
			case err != nil:
				if s.ctx.Err() == nil {
					b.log.ErrorContext(s.ctx, "broker: reload a subscriber's identity; retrying", "err", err)
				}
				if b.pause(quit) != nil {
					b.finish(s)
					return
				}
				continue
			case fresh == nil || !canWatch(fresh, s):
				b.finish(s) // access revoked: the subscription ends
				return
			case !fresh.SameRights(who):
				// Each event's response is built as the identity in the
				// subscription's context (field privacy, masking, the
				// shared payload's group), which the broker cannot
				// replace: the subscription ends, and the client
				// subscribes again as who it is now.
				b.finish(s)
				return
			}
			b.mu.Lock()
			s.who, s.rights = fresh, rightsIn(fresh, s)
			if s.rechecks == rechecks {
				s.rechecks = 0
			}
			b.mu.Unlock()
			continue // from the top: the new identity decides what is next
		}

		var (
			complete bool
			err      error
		)
		last, complete, err = b.replay(s, who, last, quit)
		switch {
		case errors.Is(err, errQuit) || s.ctx.Err() != nil:
			b.finish(s)
			return
		case err != nil:
			b.log.ErrorContext(s.ctx, "broker: catch a subscriber up; retrying", "err", err)
			if b.pause(quit) != nil {
				b.finish(s)
				return
			}
			continue
		case !complete:
			continue // a recheck is due
		}
		// The replay read the table to its end after the tailer had
		// dispatched target, so it has seen everything up to target.
		last = max(last, target)

		select {
		case <-b.ready:
		case <-quit:
			b.finish(s)
			return
		}
		b.mu.Lock()
		switch {
		case s.ended:
			b.mu.Unlock()
			b.finish(s)
			return
		case s.rechecks == 0 && b.pos <= last:
			s.last = last
			s.lagging = false
			s.quit = nil
			b.mu.Unlock()
			return
		}
		b.mu.Unlock() // the tailer has moved on meanwhile: read again
	}
}

// replay delivers the events after last that the caller who may see,
// page by page, until it has read the table to its end (complete) or a
// recheck of the caller's access is due. It returns the last position
// delivered.
func (b *Broker) replay(s *subscriber, who *viewer.Identity, last int64, quit <-chan struct{}) (_ int64, complete bool, _ error) {
	ctx := viewer.NewContext(s.ctx, who)
	for {
		events, err := b.read(ctx, s, last, quit)
		if err != nil {
			return last, false, err
		}
		for _, e := range events {
			// A subscription that has ended gets nothing more, even if
			// its buffer has room.
			select {
			case <-quit:
				return last, false, errQuit
			default:
			}
			select {
			case s.ch <- e:
				last = e.Seq
				s.ready.Ready()
			case <-quit:
				return last, false, errQuit
			}
		}
		if len(events) < b.opts.Page {
			return last, true, nil
		}
		b.mu.Lock()
		recheck := s.rechecks != 0
		b.mu.Unlock()
		if recheck {
			return last, false, nil
		}
	}
}

// read reads a page of the subscriber's events after last, as the caller
// in ctx, taking one of the broker's read slots.
func (b *Broker) read(ctx context.Context, s *subscriber, last int64, quit <-chan struct{}) ([]*ent.Event, error) {
	select {
	case b.reads <- struct{}{}:
	case <-quit:
		return nil, errQuit
	}
	defer func() { <-b.reads }()
	q := b.client.Event.Query().Where(event.SeqGT(last))
	if s.topic == s.workspace {
		q.Where(event.WorkspaceID(s.workspace))
	} else {
		q.Where(event.PrototypeID(s.topic))
	}
	if s.kinds != allKinds {
		q.Where(event.KindIn(s.kinds.list()...))
	}
	return q.Order(ent.Asc(event.FieldSeq)).Limit(b.opts.Page).All(ctx)
}

// reload reads the caller's identity again, taking one of the broker's
// read slots: an invalidation naming nothing (a LISTEN connection lost)
// rechecks every subscriber at once, and
// they queue rather than take every connection of the pool.
func (b *Broker) reload(s *subscriber, who *viewer.Identity, quit <-chan struct{}) (*viewer.Identity, error) {
	select {
	case b.reads <- struct{}{}:
	case <-quit:
		return nil, errQuit
	}
	defer func() { <-b.reads }()
	return b.opts.Identities.Reload(s.ctx, who)
}

// finish ends s from its catch-up goroutine, which owns its channel.
func (b *Broker) finish(s *subscriber) {
	b.mu.Lock()
	b.endLocked(s)
	close(s.ch)
	s.ready.Ready()
	b.mu.Unlock()
}

// pause waits a poll interval before a retry, or until quit.
func (b *Broker) pause(quit <-chan struct{}) error {
	t := time.NewTimer(b.opts.Poll)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-quit:
		return errQuit
	}
}

// canWatch reports whether who may still watch s's topic: a member of the
// workspace, or, for a prototype, a tester of it. It is the resolver's
// check at subscription, made again after the caller's access changed.
func canWatch(who *viewer.Identity, s *subscriber) bool {
	if _, member := who.RoleIn(s.workspace); member {
		return true
	}
	if s.topic == s.workspace {
		return false
	}
	_, tests := who.TesterOf(s.topic)
	return tests
}
