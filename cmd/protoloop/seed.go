package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
)

func seedCommand() *command {
	return &command{
		name:    "seed",
		summary: "create a demo workspace through the API; prints its slug and its owner's token",
		setup: func(*flag.FlagSet) func(context.Context, *env) error {
			return runSeed
		},
	}
}

// runSeed plants the demo story in the database. Everything goes through
// the GraphQL API, in-process, exactly as a frontend's requests would:
// validation, privacy and the timeline's events behave as they do for
// real users, and the demo shows nothing the API could not produce.
func runSeed(ctx context.Context, e *env) error {
	db, err := openDB(ctx, e)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := migrate(ctx, e, db); err != nil {
		return err
	}
	// The API's own log would add a line per request; keep its warnings.
	srv := newServer(slog.New(minLevel{e.log.Handler(), slog.LevelWarn}), db)
	s := &seeder{api: &inProcessAPI{handler: srv.Handler()}, log: e.log, people: map[string]*account{}}
	slug, err := s.plant(ctx, demo)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	owner := s.people[demo.people[0].key]
	e.log.Info("seeded demo workspace", "workspace", slug, "owner", owner.email, "password", demoPassword)
	// The last two lines are for scripts: keep them last, and keep their form.
	fmt.Fprintf(e.stdout, "workspace: %s\ntoken: %s\n", slug, owner.token)
	return nil
}

// demoPassword is every demo account's password, so that people can log
// in as any of them in GraphiQL. Demo accounts have .example addresses,
// which cannot belong to anyone.
const demoPassword = "feedback-loop-demo"

// seeder plants a story through the API, remembering who is who.
type seeder struct {
	api    *inProcessAPI
	log    *slog.Logger
	people map[string]*account // by person.key
}

// account is a demo person's signed-in account.
type account struct {
	email string
	token string
}

// plant creates the story's people, workspace and prototypes, and returns
// the workspace's slug.
func (s *seeder) plant(ctx context.Context, st story) (string, error) {
	for _, p := range st.people {
		a, err := s.account(ctx, p)
		if err != nil {
			return "", err
		}
		s.people[p.key] = a
	}
	owner := st.people[0].key
	wsID, slug, err := s.createWorkspace(ctx, owner, st)
	if err != nil {
		return "", err
	}
	for _, p := range st.people[1:] {
		in := map[string]any{"workspaceID": wsID, "email": s.people[p.key].email, "role": p.role}
		if err := s.call(ctx, owner, addMember, vars{"in": in}, nil); err != nil {
			return "", err
		}
	}
	for _, p := range st.prototypes {
		if err := s.plantPrototype(ctx, wsID, p); err != nil {
			return "", fmt.Errorf("prototype %s: %w", p.slug, err)
		}
	}
	return slug, nil
}

// account signs a person up, or logs them in if an earlier seed did. An
// address taken by someone with another password gets a numbered variant
// (amara+2@…), so that the seed runs again on any database.
func (s *seeder) account(ctx context.Context, p person) (*account, error) {
	local, domain, _ := strings.Cut(p.email, "@")
	for n := 1; n <= 20; n++ {
		email := p.email
		if n > 1 {
			email = fmt.Sprintf("%s+%d@%s", local, n, domain)
		}
		var auth struct{ Token string }
		in := map[string]any{"email": email, "name": p.name, "password": demoPassword}
		err := s.call(ctx, "", signUp, vars{"in": in}, &auth)
		if isCode(err, "CONFLICT") {
			err = s.call(ctx, "", logIn, vars{"in": map[string]any{"email": email, "password": demoPassword}}, &auth)
			if isCode(err, "UNAUTHENTICATED") {
				continue
			}
		}
		if err != nil {
			return nil, err
		}
		return &account{email: email, token: auth.Token}, nil
	}
	return nil, fmt.Errorf("no free email address for %s: %s and 19 variants are taken", p.name, p.email)
}

// createWorkspace creates the story's workspace under the first free slug
// of demo, demo-2, demo-3…
func (s *seeder) createWorkspace(ctx context.Context, owner string, st story) (id, slug string, err error) {
	for n := 1; n <= 100; n++ {
		slug = st.slug
		if n > 1 {
			slug = fmt.Sprintf("%s-%d", st.slug, n)
		}
		in := map[string]any{"name": st.name, "slug": slug, "mission": st.mission, "headcount": st.headcount}
		var ws struct{ ID string }
		err = s.call(ctx, owner, createWorkspace, vars{"in": in}, &ws)
		switch {
		case isCode(err, "CONFLICT"):
			continue
		case err != nil:
			return "", "", err
		}
		return ws.ID, slug, nil
	}
	return "", "", fmt.Errorf("workspace slugs %s to %s-100 are all taken", st.slug, st.slug)
}

// plantPrototype plays out one prototype's life: iterations published one
// after another, each tried and commented on, its feedback triaged and
// answered by the next.
func (s *seeder) plantPrototype(ctx context.Context, wsID string, p prototype) error {
	in := map[string]any{
		"workspaceID": wsID, "title": p.title, "slug": p.slug,
		"problem": p.problem, "missionLink": p.missionLink, "tags": p.tags,
	}
	var created struct{ ID string }
	if err := s.call(ctx, p.maker, createPrototype, vars{"in": in}, &created); err != nil {
		return err
	}
	feedbackIDs := map[string]string{} // by feedback.key
	authors := map[string]string{}     // feedback.key → the tester who left it
	status := "DRAFT"
	for _, it := range p.iterations {
		in := map[string]any{"title": it.title, "changelog": it.changelog, "url": it.url}
		var iter struct{ ID string }
		if err := s.call(ctx, p.maker, createIteration, vars{"prototype": created.ID, "in": in}, &iter); err != nil {
			return err
		}
		if it.draft {
			continue
		}
		if err := s.call(ctx, p.maker, publishIteration, vars{"id": iter.ID}, nil); err != nil {
			return err
		}
		if status == "DRAFT" && p.status != "DRAFT" {
			status = "TESTING"
			if err := s.setPrototypeStatus(ctx, p.maker, created.ID, status); err != nil {
				return err
			}
		}
		if len(it.addresses) > 0 {
			ids := make([]string, len(it.addresses))
			for i, key := range it.addresses {
				if ids[i] = feedbackIDs[key]; ids[i] == "" {
					return fmt.Errorf("iteration %q addresses unknown feedback %q", it.title, key)
				}
			}
			if err := s.call(ctx, p.maker, markAddressed, vars{"ids": ids, "iteration": iter.ID}, nil); err != nil {
				return err
			}
		}
		// Triage comes once the iteration's trials are done, as the maker
		// reads through what they brought.
		var triage []vars
		for _, t := range it.trials {
			ids, err := s.plantTrial(ctx, iter.ID, t)
			if err != nil {
				return err
			}
			for i, f := range t.feedback {
				if f.key != "" {
					feedbackIDs[f.key] = ids[i]
					authors[f.key] = t.tester
				}
				if f.status != "" {
					triage = append(triage, vars{"id": ids[i], "status": f.status})
				}
			}
		}
		for _, v := range triage {
			if err := s.call(ctx, p.maker, setFeedbackStatus, v, nil); err != nil {
				return err
			}
		}
		for _, v := range it.verdicts {
			in := vars{"id": feedbackIDs[v.feedback], "verdict": v.verdict}
			if v.note != "" {
				in["note"] = v.note
			}
			if err := s.call(ctx, authors[v.feedback], verifyFix, in, nil); err != nil {
				return err
			}
		}
	}
	if p.status != status {
		return s.setPrototypeStatus(ctx, p.maker, created.ID, p.status)
	}
	return nil
}

func (s *seeder) setPrototypeStatus(ctx context.Context, as, id, status string) error {
	return s.call(ctx, as, setPrototypeStatus, vars{"id": id, "status": status}, nil)
}

// plantTrial has a tester try an iteration, say what they think, and end
// the trial; then others vote and the thread under each piece of feedback
// unfolds. It returns the IDs of the feedback, in the trial's order.
func (s *seeder) plantTrial(ctx context.Context, iterationID string, t trial) ([]string, error) {
	in := map[string]any{"iterationID": iterationID, "task": t.task, "device": t.device}
	var started struct{ ID string }
	if err := s.call(ctx, t.tester, startTrial, vars{"in": in}, &started); err != nil {
		return nil, err
	}
	var ids []string
	for _, f := range t.feedback {
		in := map[string]any{"iterationID": iterationID, "trialID": started.ID, "kind": f.kind, "body": f.body}
		if f.rating != 0 {
			in["rating"] = f.rating
		}
		if f.minutes != 0 {
			in["minutesSavedPerDay"] = f.minutes
		}
		var left struct{ ID string }
		if err := s.call(ctx, t.tester, leaveFeedback, vars{"in": in}, &left); err != nil {
			return nil, err
		}
		ids = append(ids, left.ID)
	}
	if t.outcome != "" {
		if err := s.call(ctx, t.tester, endTrial, vars{"id": started.ID, "outcome": t.outcome}, nil); err != nil {
			return nil, err
		}
	}
	for i, f := range t.feedback {
		for _, voter := range f.votes {
			if err := s.call(ctx, voter, vote, vars{"id": ids[i]}, nil); err != nil {
				return nil, err
			}
		}
		var root string
		for _, c := range f.thread {
			in := map[string]any{"feedbackID": ids[i], "body": c.body}
			if root != "" {
				in["parentID"] = root
			}
			var added struct{ ID string }
			if err := s.call(ctx, c.by, addComment, vars{"in": in}, &added); err != nil {
				return nil, err
			}
			if root == "" {
				root = added.ID
			}
		}
	}
	return ids, nil
}

// The operations the seed runs. Each selects little: the seed needs IDs,
// and the API's answers are the proof that each step happened.
const (
	signUp             = `mutation SignUp($in: SignUpInput!) { signUp(input: $in) { token } }`
	logIn              = `mutation LogIn($in: LogInInput!) { logIn(input: $in) { token } }`
	createWorkspace    = `mutation CreateWorkspace($in: CreateWorkspaceInput!) { createWorkspace(input: $in) { id } }`
	addMember          = `mutation AddMember($in: AddMemberInput!) { addMember(input: $in) { id } }`
	createPrototype    = `mutation CreatePrototype($in: CreatePrototypeInput!) { createPrototype(input: $in) { id } }`
	setPrototypeStatus = `mutation SetPrototypeStatus($id: ID!, $status: PrototypeStatus!) { setPrototypeStatus(id: $id, status: $status) { id } }`
	createIteration    = `mutation CreateIteration($prototype: ID!, $in: CreateIterationInput!) { createIteration(prototypeID: $prototype, input: $in) { id } }`
	publishIteration   = `mutation PublishIteration($id: ID!) { publishIteration(id: $id) { id } }`
	verifyFix          = `mutation VerifyFix($id: ID!, $verdict: FeedbackVerdict!, $note: String) { verifyFix(feedback: $id, verdict: $verdict, note: $note) { id } }`
	markAddressed      = `mutation MarkAddressed($ids: [ID!]!, $iteration: ID!) { markAddressed(feedbackIDs: $ids, iterationID: $iteration) { id } }`
	startTrial         = `mutation StartTrial($in: StartTrialInput!) { startTrial(input: $in) { id } }`
	endTrial           = `mutation EndTrial($id: ID!, $outcome: TrialOutcome!) { endTrial(id: $id, outcome: $outcome) { id } }`
	leaveFeedback      = `mutation LeaveFeedback($in: LeaveFeedbackInput!) { leaveFeedback(input: $in) { id } }`
	setFeedbackStatus  = `mutation SetFeedbackStatus($id: ID!, $status: FeedbackStatus!) { setFeedbackStatus(id: $id, status: $status) { id } }`
	addComment         = `mutation AddComment($in: AddCommentInput!) { addComment(input: $in) { id } }`
	vote               = `mutation Vote($id: ID!) { vote(feedbackID: $id) { id } }`
)

type vars = map[string]any

// call runs an operation as the person with the key as ("" for nobody)
// and decodes its one root field into out, unless out is nil.
func (s *seeder) call(ctx context.Context, as, query string, v vars, out any) error {
	token := ""
	if as != "" {
		a, ok := s.people[as]
		if !ok {
			return fmt.Errorf("the story names %q, who is not one of its people", as)
		}
		token = a.token
	}
	return s.api.do(ctx, token, query, v, out)
}

// inProcessAPI sends GraphQL requests straight to the server's handler:
// the whole HTTP stack (body limit, authentication, transports) without a
// port.
type inProcessAPI struct {
	handler http.Handler
}

// apiError is an error the API answered with.
type apiError struct {
	op      string
	code    string
	message string
}

func (e *apiError) Error() string {
	if e.code == "" {
		return fmt.Sprintf("%s: %s", e.op, e.message)
	}
	return fmt.Sprintf("%s: %s (%s)", e.op, e.message, e.code)
}

// isCode reports whether err is an API error with the code.
func isCode(err error, code string) bool {
	var apiErr *apiError
	return errors.As(err, &apiErr) && apiErr.code == code
}

func (a *inProcessAPI) do(ctx context.Context, token, query string, v vars, out any) error {
	op := operationName(query)
	body, err := json.Marshal(map[string]any{"query": query, "variables": v})
	if err != nil {
		return fmt.Errorf("%s: encode variables: %w", op, err)
	}
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)

	var resp struct {
		Data   map[string]json.RawMessage
		Errors []struct {
			Message    string
			Extensions struct{ Code string }
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		return fmt.Errorf("%s: HTTP %d, not a GraphQL response: %w", op, rec.Code, err)
	}
	if len(resp.Errors) > 0 {
		e := resp.Errors[0]
		return &apiError{op: op, code: e.Extensions.Code, message: e.Message}
	}
	if rec.Code != http.StatusOK || len(resp.Data) != 1 {
		return fmt.Errorf("%s: HTTP %d with %d root fields and no error", op, rec.Code, len(resp.Data))
	}
	if out == nil {
		return nil
	}
	for _, field := range resp.Data {
		if err := json.Unmarshal(field, out); err != nil {
			return fmt.Errorf("%s: decode result: %w", op, err)
		}
	}
	return nil
}

// operationName returns the name of an operation like the ones above,
// for error messages.
func operationName(query string) string {
	_, rest, _ := strings.Cut(query, " ")
	name, _, _ := strings.Cut(rest, "(")
	return name
}

// minLevel drops records below a level, whatever the handler it wraps
// would let through.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(attrs), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}
