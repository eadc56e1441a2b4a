package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/feedback"
	"github.com/protoloop/protoloop/ent/iteration"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/prototype"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/trial"
	"github.com/protoloop/protoloop/server"
	"github.com/protoloop/protoloop/server/storage"
)

// The shape of the seeded data, per prototype besides the flags'
// iterations and feedback.
const (
	prototypesPerWorkspace = 100
	testersPerPrototype    = 10 // guest participants: trials, feedback, comments, votes
	votesPerFeedback       = 2
	commentsPerFeedback    = 1
	// bulkRows is the rows per INSERT: PostgreSQL takes at most 65,535
	// parameters in a statement, and feedback has 17 columns.
	bulkRows = 1000
	// seedChunk is how many prototypes are built and written at a time.
	seedChunk = 20
)

var feedbackKinds = []feedback.Kind{feedback.KindBUG, feedback.KindIDEA, feedback.KindQUESTION,
	feedback.KindPRAISE, feedback.KindCONFUSION, feedback.KindWORKAROUND}

// runSeed creates the bench account and its workspaces through the API
// (so that its token and memberships are exactly what signing up makes),
// then bulk-loads the prototypes and everything under them through ent,
// IDs from ent/schema/gid, events numbered after the last one, vote counts
// kept: data the server serves as if its users had made it.
func runSeed(ctx context.Context, o *options) (*report, error) {
	if err := ensureDatabase(ctx, o.databaseURL); err != nil {
		return nil, err
	}
	db, err := storage.Open(ctx, storage.Options{DatabaseURL: o.databaseURL})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}

	nProto := int(math.Round(float64(o.prototypes) * o.scale))
	if nProto < 1 || o.iterations < 1 || o.feedback < 0 {
		return nil, errors.New("seed: want at least one prototype and one iteration")
	}
	began := time.Now()
	srv := server.New(db, server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	api := &gqlClient{http: inProcess(srv.Handler()), base: "http://in-process"}
	st, owner, workspaces, err := seedAccount(ctx, api, (nProto+prototypesPerWorkspace-1)/prototypesPerWorkspace)
	if err != nil {
		return nil, err
	}

	before, err := countRows(ctx, db.SQL)
	if err != nil {
		return nil, err
	}
	s := &seeder{client: db.Client, owner: owner, iterations: o.iterations, feedback: o.feedback}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	bar := newProgress(o.stderr, "prototypes", nProto)
	for done := 0; done < nProto; {
		n := min(seedChunk, nProto-done)
		if err := s.chunk(ctx, workspaces, done, n); err != nil {
			return nil, err
		}
		done += n
		bar.set(done)
	}
	// VACUUM too, not only ANALYZE: a bulk load leaves the tables' pages
	// unmarked in the visibility map until autovacuum gets to them (never,
	// where it is off), and index-only scans would read the heap meanwhile,
	// the hand-written limit's as much as the server's.
	if _, err := db.SQL.ExecContext(ctx, "VACUUM (ANALYZE) prototypes, iterations, participants, trials, feedbacks, comments, votes, events"); err != nil {
		return nil, fmt.Errorf("vacuum: %w", err)
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(o.state, append(data, '\n'), 0o600); err != nil {
		return nil, err
	}

	after, err := countRows(ctx, db.SQL)
	if err != nil {
		return nil, err
	}
	r := &report{
		Params:  map[string]any{"prototypes": nProto, "iterations": o.iterations, "feedback": o.feedback},
		Columns: []string{"table", "rows", "added"},
	}
	for i, t := range seededTables {
		r.add(result{"table": t.name, "rows": float64(after[i]), "added": float64(after[i] - before[i])})
	}
	r.note("rows: what the table holds after seeding, counted in the database; added: rows - what it held before (other writers included)")
	r.note("seeded in %.1f s; workspaces %v; the bench account's token is in %s", time.Since(began).Seconds(), st.Workspaces, o.state)
	return r, nil
}

// seedAccount signs the bench user up and creates its workspaces.
func seedAccount(ctx context.Context, api *gqlClient, workspaces int) (*benchState, gid.ID, []gid.ID, error) {
	suffix := randomSuffix()
	st := &benchState{Email: "bench-" + suffix + "@bench.example"}
	var auth struct {
		SignUp struct {
			Token string
			User  struct{ ID string }
		}
	}
	err := api.do(ctx, `mutation($in: SignUpInput!) { signUp(input: $in) { token user { id } } }`,
		map[string]any{"in": map[string]any{"email": st.Email, "name": "Bench Owner", "password": "bench-password-" + suffix}}, &auth)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("sign up: %w", err)
	}
	st.Token = auth.SignUp.Token
	api.token = st.Token
	owner, err := gid.Parse(auth.SignUp.User.ID)
	if err != nil {
		return nil, 0, nil, err
	}
	var ids []gid.ID
	for i := range workspaces {
		slug := fmt.Sprintf("bench-%s-%d", suffix, i+1)
		var ws struct{ CreateWorkspace struct{ ID string } }
		err := api.do(ctx, `mutation($in: CreateWorkspaceInput!) { createWorkspace(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"name": fmt.Sprintf("Bench team %d", i+1), "slug": slug,
				"mission": "Measure protoloop against the database's own limits.", "headcount": 40}}, &ws)
		if err != nil {
			return nil, 0, nil, fmt.Errorf("create workspace: %w", err)
		}
		id, err := gid.Parse(ws.CreateWorkspace.ID)
		if err != nil {
			return nil, 0, nil, err
		}
		ids = append(ids, id)
		st.Workspaces = append(st.Workspaces, slug)
	}
	return st, owner, ids, nil
}

func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// seeder writes prototypes and what belongs to them.
type seeder struct {
	client     *ent.Client
	owner      gid.ID
	iterations int
	feedback   int

	seq   int64     // the last event position written
	clock time.Time // advances a second per event, so the timeline is in order
}

// seededTables are the tables seed reports on: its name for each, and
// the table's.
var seededTables = []struct{ name, table string }{
	{"prototypes", "prototypes"}, {"iterations", "iterations"}, {"participants", "participants"},
	{"trials", "trials"}, {"feedback", "feedbacks"}, {"comments", "comments"},
	{"votes", "votes"}, {"events", "events"},
}

// countRows counts the rows of seededTables, in their order, in one
// statement: seed reports what the database holds, not what it meant to
// write.
func countRows(ctx context.Context, db *sql.DB) ([]int64, error) {
	parts := make([]string, len(seededTables))
	for i, t := range seededTables {
		parts[i] = fmt.Sprintf("SELECT %d AS i, COUNT(*) AS n FROM %s", i, pq.QuoteIdentifier(t.table))
	}
	rows, err := db.QueryContext(ctx, strings.Join(parts, " UNION ALL ")+" ORDER BY i")
	if err != nil {
		return nil, fmt.Errorf("count rows: %w", err)
	}
	defer rows.Close()
	counts := make([]int64, len(seededTables))
	for rows.Next() {
		var i int
		var n int64
		if err := rows.Scan(&i, &n); err != nil {
			return nil, fmt.Errorf("count rows: %w", err)
		}
		counts[i] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count rows: %w", err)
	}
	return counts, nil
}

// start finds where the event stream stands and starts the clock far
// enough back that the seeded history ends now.
func (s *seeder) start(ctx context.Context) error {
	rows, err := s.client.QueryContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM events")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(&s.seq); err != nil {
			return err
		}
	}
	s.clock = time.Now().Add(-90 * 24 * time.Hour)
	return rows.Err()
}

// chunk is one transaction's worth of prototypes, first to first+n.
type chunk struct {
	prototypes   []*ent.PrototypeCreate
	iterations   []*ent.IterationCreate
	participants []*ent.ParticipantCreate
	trials       []*ent.TrialCreate
	feedback     []*ent.FeedbackCreate
	comments     []*ent.CommentCreate
	votes        []*ent.VoteCreate
	events       []*ent.EventCreate
}

func (s *seeder) chunk(ctx context.Context, workspaces []gid.ID, first, n int) error {
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	tx, err := s.client.Tx(ctx)
	if err != nil {
		return err
	}
	c := &chunk{}
	for i := first; i < first+n; i++ {
		s.prototype(tx, c, workspaces[i/prototypesPerWorkspace], i)
	}
	err = errors.Join(
		bulk(ctx, c.prototypes, func(b []*ent.PrototypeCreate) error { return tx.Prototype.CreateBulk(b...).Exec(ctx) }),
		bulk(ctx, c.iterations, func(b []*ent.IterationCreate) error { return tx.Iteration.CreateBulk(b...).Exec(ctx) }),
		bulk(ctx, c.participants, func(b []*ent.ParticipantCreate) error { return tx.Participant.CreateBulk(b...).Exec(ctx) }),
		bulk(ctx, c.trials, func(b []*ent.TrialCreate) error { return tx.Trial.CreateBulk(b...).Exec(ctx) }),
		bulk(ctx, c.feedback, func(b []*ent.FeedbackCreate) error { return tx.Feedback.CreateBulk(b...).Exec(ctx) }),
		bulk(ctx, c.comments, func(b []*ent.CommentCreate) error { return tx.Comment.CreateBulk(b...).Exec(ctx) }),
		bulk(ctx, c.votes, func(b []*ent.VoteCreate) error { return tx.Vote.CreateBulk(b...).Exec(ctx) }),
		bulk(ctx, c.events, func(b []*ent.EventCreate) error { return tx.Event.CreateBulk(b...).Exec(ctx) }),
	)
	if err != nil {
		return errors.Join(fmt.Errorf("seed prototypes %d–%d: %w", first+1, first+n, err), tx.Rollback())
	}
	return tx.Commit()
}

// bulk writes builders in statements of bulkRows, stopping at the first
// error (the transaction is lost then anyway).
func bulk[T any](ctx context.Context, all []T, write func([]T) error) error {
	for len(all) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(bulkRows, len(all))
		if err := write(all[:n]); err != nil {
			return err
		}
		all = all[n:]
	}
	return nil
}

// tick returns the time of the next event.
func (s *seeder) tick() time.Time {
	s.clock = s.clock.Add(time.Second)
	return s.clock
}

func (s *seeder) event(tx *ent.Tx, c *chunk, ws, proto gid.ID, kind event.Kind, subject, participant gid.ID, at time.Time) {
	s.seq++
	e := tx.Event.Create().SetID(gid.New(gid.Event)).SetSeq(s.seq).SetKind(kind).
		SetWorkspaceID(ws).SetPrototypeID(proto).SetSubjectID(subject).SetOccurredAt(at)
	if participant != 0 {
		e.SetActorParticipantID(participant)
	} else {
		e.SetActorUserID(s.owner)
	}
	c.events = append(c.events, e)
}

// prototype builds prototype number i with its iterations, testers,
// trials, feedback, comments, votes and the timeline they make.
func (s *seeder) prototype(tx *ent.Tx, c *chunk, ws gid.ID, i int) {
	pid := gid.New(gid.Prototype)
	at := s.tick()
	c.prototypes = append(c.prototypes, tx.Prototype.Create().SetID(pid).SetWorkspaceID(ws).SetOwnerID(s.owner).
		SetTitle(fmt.Sprintf("Prototype %d", i+1)).SetSlug(fmt.Sprintf("p-%05d", i+1)).
		SetProblem("Volunteers retype the same details into three forms every shift.").
		SetMissionLink("Every hour not spent on forms is an hour with the people we serve.").
		SetStatus(prototype.StatusTESTING).SetTags([]string{"bench"}).SetCreatedAt(at).SetUpdatedAt(at))
	s.event(tx, c, ws, pid, event.KindPROTOTYPE_CREATED, pid, 0, at)

	testers := make([]gid.ID, testersPerPrototype)
	for t := range testers {
		testers[t] = gid.New(gid.Participant)
		c.participants = append(c.participants, tx.Participant.Create().SetID(testers[t]).
			SetWorkspaceID(ws).SetPrototypeID(pid).SetDisplayName(fmt.Sprintf("Tester %d", t+1)).
			SetCreatedAt(at).SetUpdatedAt(at))
	}
	for n := 1; n <= s.iterations; n++ {
		iid := gid.New(gid.Iteration)
		at := s.tick()
		c.iterations = append(c.iterations, tx.Iteration.Create().SetID(iid).SetWorkspaceID(ws).SetPrototypeID(pid).
			SetNumber(n).SetTitle(fmt.Sprintf("Iteration %d", n)).SetChangelog("Fewer fields; the rest filled in from last time.").
			SetURL(fmt.Sprintf("https://try.bench.example/p%d/%d", i+1, n)).SetStatus(iteration.StatusPUBLISHED).
			SetPublishedAt(at).SetCreatedAt(at).SetUpdatedAt(at))
		s.event(tx, c, ws, pid, event.KindITERATION_CREATED, iid, 0, at)
		s.event(tx, c, ws, pid, event.KindITERATION_PUBLISHED, iid, 0, s.tick())

		trials := make([]gid.ID, len(testers))
		for t, who := range testers {
			trials[t] = gid.New(gid.Trial)
			at := s.tick()
			c.trials = append(c.trials, tx.Trial.Create().SetID(trials[t]).SetWorkspaceID(ws).SetPrototypeID(pid).
				SetIterationID(iid).SetParticipantID(who).SetStartedAt(at).SetEndedAt(at.Add(10*time.Minute)).
				SetOutcome(trial.OutcomeCOMPLETED).SetTask("Sign up for a Saturday shift").SetDevice("phone").
				SetCreatedAt(at).SetUpdatedAt(at))
			s.event(tx, c, ws, pid, event.KindTRIAL_STARTED, trials[t], who, at)
		}
		for f := range s.feedback {
			fid := gid.New(gid.Feedback)
			t := f % len(testers)
			at := s.tick()
			c.feedback = append(c.feedback, tx.Feedback.Create().SetID(fid).SetWorkspaceID(ws).SetPrototypeID(pid).
				SetIterationID(iid).SetAuthorID(testers[t]).SetTrialID(trials[t]).SetKind(feedbackKinds[f%len(feedbackKinds)]).
				SetBody(fmt.Sprintf("Feedback %d on iteration %d: the date picker hides the weekend shifts.", f+1, n)).
				SetRating(1+f%5).SetMinutesSavedPerDay(5*(f%7)).SetVoteCount(votesPerFeedback).
				SetCreatedAt(at).SetUpdatedAt(at))
			s.event(tx, c, ws, pid, event.KindFEEDBACK_ADDED, fid, testers[t], at)
			for k := range commentsPerFeedback {
				cid := gid.New(gid.Comment)
				at := s.tick()
				c.comments = append(c.comments, tx.Comment.Create().SetID(cid).SetWorkspaceID(ws).SetPrototypeID(pid).
					SetFeedbackID(fid).SetAuthorID(testers[t]).SetBody(fmt.Sprintf("Comment %d: same here on a tablet.", k+1)).
					SetCreatedAt(at).SetUpdatedAt(at))
				s.event(tx, c, ws, pid, event.KindCOMMENT_ADDED, cid, testers[t], at)
			}
			for v := 1; v <= votesPerFeedback; v++ {
				vid := gid.New(gid.Vote)
				who := testers[(t+v)%len(testers)]
				at := s.tick()
				c.votes = append(c.votes, tx.Vote.Create().SetID(vid).SetWorkspaceID(ws).SetPrototypeID(pid).
					SetFeedbackID(fid).SetParticipantID(who).SetCreatedAt(at).SetUpdatedAt(at))
				s.event(tx, c, ws, pid, event.KindVOTE_ADDED, vid, who, at)
			}
		}
	}
}

// ensureDatabase creates the database the URL names if it does not exist,
// connecting to the server's postgres database to do so.
func ensureDatabase(ctx context.Context, dbURL string) error {
	db, err := openSQL(dbURL)
	if err != nil {
		return err
	}
	err = db.PingContext(ctx)
	db.Close()
	var pqErr *pq.Error
	if err == nil || !errors.As(err, &pqErr) || pqErr.Code != "3D000" { // invalid_catalog_name
		return err
	}
	u, perr := url.Parse(dbURL)
	if perr != nil {
		return err
	}
	name := u.Path[1:]
	u.Path = "/postgres"
	admin, aerr := openSQL(u.String())
	if aerr != nil {
		return aerr
	}
	defer admin.Close()
	if _, cerr := admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); cerr != nil {
		return fmt.Errorf("create database %s: %w", name, cerr)
	}
	return nil
}
