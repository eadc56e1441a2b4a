package graph_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/protoloop/protoloop/server/servertest"
)

// The authorization matrix: every role a caller can have, against every
// query, connection, node lookup, subscription and mutation of the API
// (and lookups with the IDs of objects the role may not see), each cell the
// outcome the role model in docs/access-control.md promises. It runs on a
// real server on both databases, in one world built once per backend.
//
// Outcomes, as the subtests name them (role/operation/outcome):
//
//	OK               the mutation succeeded (data at the field is not null)
//	visible          the read returned the object, or a non-empty list
//	empty            the read succeeded and the list or connection is empty
//	null             the read returned null, without an error
//	NOT_FOUND, FORBIDDEN, UNAUTHENTICATED, BAD_USER_INPUT
//	                 the first error's extensions.code, with no data at the field
//	masked, named    a participant's name as a tester sees another tester's
//	                 (masked) or as it is (named)
//
// Cells run operation by operation, so mutations that could disturb the
// world (status changes, redeeming invites, which gives a caller access to
// more) come last. Mutations that succeed act on objects made for the cell
// (see the args of each case), so the next role finds the world as before.

// authzRole is a row of the matrix: who is calling.
type authzRole int

const (
	asOwner        authzRole = iota // owner of workspace W
	asMaker                         // maker in W
	asViewer                        // viewer in W
	asGuestTesterP                  // guest who redeemed P's invite, with the guest token it gave
	asUserTesterP                   // a user outside W who redeemed P's invite while signed in
	asGuestTesterQ                  // guest tester of Q, another prototype of W
	asOtherOwner                    // owner of workspace X, with no part in W
	asAnonymous                     // no token
	asRevokedToken                  // a token of W's owner that was logged out
	authzRoles
)

var authzRoleNames = [authzRoles]string{
	"owner", "maker", "viewer", "guestTesterP", "userTesterP", "guestTesterQ", "otherOwner", "anonymous", "revokedToken",
}

func (r authzRole) String() string { return authzRoleNames[r] }

// hasAccount reports whether the role signs in as a user (guests and
// anonymous callers do not).
func (r authzRole) hasAccount() bool {
	switch r {
	case asOwner, asMaker, asViewer, asUserTesterP, asOtherOwner:
		return true
	}
	return false
}

// authenticated reports whether the role's requests carry a working token.
func (r authzRole) authenticated() bool { return r != asAnonymous && r != asRevokedToken }

// authzOutcome is a cell of the matrix: what a role gets from an operation.
type authzOutcome struct {
	label string
	check func(t *testing.T, r *servertest.Response, field string)
}

// authzCase is a column of the matrix: one operation.
type authzCase struct {
	op    string
	query string
	// field is the dot path, in the response's data, of what the outcome
	// is about.
	field string
	// args returns the operation's variables for a role. Cases whose
	// mutation succeeds for some roles make a fresh object here, so that
	// each cell finds the world unchanged by the ones before it.
	args func(t *testing.T, r authzRole) vars
	// stream sends the operation (a subscription) over server-sent events
	// and takes its first message as the response.
	stream bool
	// as, if set, returns the token a role sends instead of its usual one
	// (logOut uses a fresh one, so that the role's own keeps working).
	as func(t *testing.T, r authzRole) string
	// want lists the outcome for each role, in authzRole order; a cell
	// with no label does not apply to that role.
	want [authzRoles]authzOutcome
	// then, if set, runs after a cell that got what it wanted (outcome is
	// its label), to check what followed: a token revoked, a guest token
	// claimed.
	then func(t *testing.T, r authzRole, outcome string, v vars, resp *servertest.Response)
}

// TestAuthorizationMatrix checks the role model cell by cell. Each cell is
// a subtest named role/operation/outcome, such as
// "viewer/setFeedbackStatus/FORBIDDEN".
func TestAuthorizationMatrix(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newAuthzWorld(t, s)
		n := 0
		for _, c := range w.cases() {
			for r := range authzRoles {
				want := c.want[r]
				if want.label == "" {
					continue
				}
				n++
				t.Run(fmt.Sprintf("%s/%s/%s", r, c.op, want.label), func(t *testing.T) {
					v := vars{}
					if c.args != nil {
						v = c.args(t, r)
					}
					token := w.token[r]
					if c.as != nil {
						token = c.as(t, r)
					}
					var resp *servertest.Response
					if c.stream {
						resp = subscribeFirst(t, s, token, c.query, sent(v))
					} else {
						resp = s.Do(t, token, c.query, sent(v))
					}
					want.check(t, resp, c.field)
					if c.then != nil && !t.Failed() {
						c.then(t, r, want.label, v, resp)
					}
				})
			}
		}
		t.Logf("authorization matrix: %d cases", n)
	})
}

// subscribeFirst starts a subscription over server-sent events and returns
// its first message: the first event, or the error that refused it. A
// request refused before GraphQL (one with a revoked token) is answered
// with a plain JSON body instead, which it returns as it is.
func subscribeFirst(t *testing.T, s *servertest.Server, token, query string, v vars) *servertest.Response {
	t.Helper()
	body, err := json.Marshal(vars{"query": query, "variables": v})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel() // ends the subscription: one message is all a cell needs
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	httpResp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer httpResp.Body.Close()
	resp := &servertest.Response{Status: httpResp.StatusCode}
	if !strings.HasPrefix(httpResp.Header.Get("Content-Type"), "text/event-stream") {
		if err := json.NewDecoder(httpResp.Body).Decode(resp); err != nil {
			t.Fatalf("subscribe: HTTP %d, not a GraphQL response: %v", httpResp.StatusCode, err)
		}
		return resp
	}
	lines := bufio.NewScanner(httpResp.Body)
	lines.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for lines.Scan() {
		if data, ok := strings.CutPrefix(lines.Text(), "data: "); ok {
			if err := json.Unmarshal([]byte(data), resp); err != nil {
				t.Fatalf("subscribe: message %q: %v", data, err)
			}
			return resp
		}
	}
	t.Fatalf("subscribe: the stream ended without a message (%v)", lines.Err())
	return nil
}

// sent returns the variables to send: args may keep notes for then under
// keys starting with "_", which the operation does not declare.
func sent(v vars) vars {
	out := make(vars, len(v))
	for k, x := range v {
		if !strings.HasPrefix(k, "_") {
			out[k] = x
		}
	}
	return out
}

// row builds a column's cells from one outcome per role, in authzRole
// order: owner, maker, viewer, guestTesterP, userTesterP, guestTesterQ,
// otherOwner, anonymous, revokedToken.
func row(cells ...authzOutcome) [authzRoles]authzOutcome {
	if len(cells) != int(authzRoles) {
		panic(fmt.Sprintf("authz: a row needs %d cells, got %d", authzRoles, len(cells)))
	}
	return [authzRoles]authzOutcome(cells)
}

// The generic outcomes.
var (
	wantOK = authzOutcome{"OK", func(t *testing.T, r *servertest.Response, field string) {
		t.Helper()
		v := requireData(t, r, field)
		if v == nil || v == false {
			t.Fatalf("%s = %v, want a result; data %s", field, v, r.Data)
		}
	}}
	wantVisible = authzOutcome{"visible", func(t *testing.T, r *servertest.Response, field string) {
		t.Helper()
		v := requireData(t, r, field)
		if n, isList := size(v); v == nil || isList && n == 0 {
			t.Fatalf("%s = %v, want it visible (not null, not empty); data %s", field, v, r.Data)
		}
	}}
	wantEmpty = authzOutcome{"empty", func(t *testing.T, r *servertest.Response, field string) {
		t.Helper()
		v, reached := lookupData(t, r, requireData(t, r, ""), field)
		if !reached {
			t.Fatalf("something on the way to %s is null, want %s there and empty; data %s", field, field, r.Data)
		}
		if n, isList := size(v); v != nil && (!isList || n != 0) {
			t.Fatalf("%s = %v, want it empty; data %s", field, v, r.Data)
		}
	}}
	wantNull = authzOutcome{"null", func(t *testing.T, r *servertest.Response, field string) {
		t.Helper()
		if v := requireData(t, r, field); v != nil {
			t.Fatalf("%s = %v, want null; data %s", field, v, r.Data)
		}
	}}
	wantNotFound        = wantCode("NOT_FOUND")
	wantForbidden       = wantCode("FORBIDDEN")
	wantUnauthenticated = wantCode("UNAUTHENTICATED")
	wantBadInput        = wantCode("BAD_USER_INPUT")
	notApplicable       = authzOutcome{}
)

// wantCode expects an error with code, and nothing of the field.
func wantCode(code string) authzOutcome {
	return authzOutcome{code, func(t *testing.T, r *servertest.Response, field string) {
		t.Helper()
		if len(r.Errors) == 0 {
			t.Fatalf("got data %s, want a %s error", r.Data, code)
		}
		if got := r.Code(); got != code {
			t.Fatalf("got %s, want %s; errors: %v", got, code, r.Errors)
		}
		if v, _ := lookupData(t, r, decodeData(t, r), field); !isNothing(v) {
			t.Fatalf("got a %s error and %s = %v with it", code, field, v)
		}
	}}
}

// wantNamed expects a participant shown as they are: their own name and,
// if email is not "", their address.
func wantNamed(name, email string) authzOutcome {
	return authzOutcome{"named", func(t *testing.T, r *servertest.Response, field string) {
		t.Helper()
		p, _ := requireData(t, r, field).(map[string]any)
		if p == nil {
			t.Fatalf("%s is null, want participant %q; data %s", field, name, r.Data)
		}
		if p["displayName"] != name {
			t.Errorf("displayName = %v, want %q", p["displayName"], name)
		}
		if email != "" && p["email"] != email {
			t.Errorf("email = %v, want %q", p["email"], email)
		}
	}}
}

// wantMasked expects another tester's identity hidden: a stand-in name
// that does not contain theirs, no email and no user.
func wantMasked(name string) authzOutcome {
	return authzOutcome{"masked", func(t *testing.T, r *servertest.Response, field string) {
		t.Helper()
		p, _ := requireData(t, r, field).(map[string]any)
		if p == nil {
			t.Fatalf("%s is null, want the participant with a masked name; data %s", field, r.Data)
		}
		shown, _ := p["displayName"].(string)
		if shown == "" || strings.Contains(strings.ToLower(shown), strings.ToLower(strings.Fields(name)[0])) {
			t.Errorf("displayName = %q, want a stand-in for %q", shown, name)
		}
		if p["email"] != nil {
			t.Errorf("email = %v, want null", p["email"])
		}
		if p["user"] != nil {
			t.Errorf("user = %v, want null", p["user"])
		}
	}}
}

// isNothing reports whether v shows nothing: null, or a list of nulls
// (nodes(ids:) answers each ID it refuses with null).
func isNothing(v any) bool {
	if list, ok := v.([]any); ok {
		for _, x := range list {
			if x != nil {
				return false
			}
		}
		return true
	}
	return v == nil
}

// decodeData returns the response's data as a map; nil when there is
// none (a request refused before GraphQL, say).
func decodeData(t *testing.T, r *servertest.Response) map[string]any {
	t.Helper()
	if len(r.Data) == 0 || string(r.Data) == "null" {
		return nil
	}
	var data map[string]any
	r.Decode(t, &data)
	return data
}

// requireData fails t unless the response has no errors, and returns the
// value at field ("" for all of data).
func requireData(t *testing.T, r *servertest.Response, field string) any {
	t.Helper()
	r.RequireOK(t)
	data := decodeData(t, r)
	if field == "" {
		return data
	}
	v, _ := lookupData(t, r, data, field)
	return v
}

// lookupData walks data along a dot path. reached is false when an object
// on the way is null, and so the last step could not be taken.
func lookupData(t *testing.T, r *servertest.Response, data any, path string) (v any, reached bool) {
	t.Helper()
	v = data
	for _, step := range strings.Split(path, ".") {
		if v == nil {
			return nil, false
		}
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: %T on the way, not an object; data %s", path, v, r.Data)
		}
		v = m[step]
	}
	return v, true
}

// size returns how many items a list or a connection holds; isList is
// false for any other value.
func size(v any) (n int, isList bool) {
	switch v := v.(type) {
	case []any:
		return len(v), true
	case map[string]any:
		if c, ok := v["totalCount"].(float64); ok {
			return int(c), true
		}
		if e, ok := v["edges"].([]any); ok {
			return len(e), true
		}
	}
	return 0, false
}

// authzInvite is an invite and its secret link token.
type authzInvite struct{ ID, Token string }

// authzWorld is what the matrix runs against: workspace W (owner, maker,
// viewer) with prototypes P and Q and their testers, and workspace X,
// which nobody in W has any part in.
type authzWorld struct {
	s     *servertest.Server
	token [authzRoles]string
	user  map[authzRole]servertest.User

	w, x      servertest.Workspace
	p, q, px  servertest.Prototype
	p3        servertest.Prototype // where redeemInvite and claimGuest cases get their invites
	it1, it3  servertest.Iteration // P's published iterations 1 and 2
	it2       servertest.Iteration // P's draft
	q1, itX   servertest.Iteration
	guestT2   string // token of Theo, a second guest of P: the "someone else" whose trials and feedback cases touch
	partG     string // the guest tester of P's participant
	partT2    string
	fbV, fbU  string // feedback on P by the viewer and by the user tester
	fbT2      string
	fbGQ      string // feedback on Q by its guest tester
	fx        string // feedback in X
	trT2      string
	comment   string // on fbV
	vote      string // the user tester's, on fbV
	event     string // on P's timeline
	memberV   string // the viewer's membership
	inviteP   authzInvite
	inviteQ   authzInvite
	inviteP3  authzInvite
	expired   authzInvite
	expiresAt time.Time
	revoked   authzInvite
	usedUp    authzInvite
	// ownerTokenID is the ID of the owner's token; revokedTokenID that of
	// the owner's token that was logged out.
	ownerTokenID, revokedTokenID string
}

// The guests' names, as they gave them when they redeemed the invite.
const (
	graceName  = "Grace Guest"
	graceEmail = "grace@example.test"
	theoName   = "Theo Guest"
	theoEmail  = "theo@example.test"
	umaName    = "Uma Tester"
)

// newAuthzWorld builds the matrix's world through the API.
func newAuthzWorld(t *testing.T, s *servertest.Server) *authzWorld {
	t.Helper()
	w := &authzWorld{s: s, user: map[authzRole]servertest.User{}}

	owner := s.NewUser(t, "Olive Owner")
	w.user[asOwner] = owner
	w.ownerTokenID = w.newTokenID(t, owner.Token, nil)
	w.w = s.NewWorkspace(t, owner.Token)
	w.p = s.NewPrototype(t, owner.Token, w.w.ID)
	// The expired invite goes first: by the time its case runs, it has
	// long expired, and nothing waits for it.
	w.expiresAt = time.Now().Add(3 * time.Second)
	w.expired = w.createInvite(t, owner.Token, w.p.ID, vars{"expiresAt": w.expiresAt.UTC().Format(time.RFC3339Nano)})

	maker := s.NewUser(t, "Mo Maker")
	s.AddMember(t, owner.Token, w.w.ID, maker.Email, "MAKER")
	w.user[asMaker] = maker
	viewer := s.NewUser(t, "Vi Viewer")
	w.memberV = s.AddMember(t, owner.Token, w.w.ID, viewer.Email, "VIEWER")
	w.user[asViewer] = viewer

	w.setStatus(t, owner.Token, w.p.ID, "TESTING")
	w.it1 = s.NewPublishedIteration(t, owner.Token, w.p.ID)
	w.it3 = s.NewPublishedIteration(t, owner.Token, w.p.ID)
	w.it2 = s.NewIteration(t, owner.Token, w.p.ID)

	w.q = s.NewPrototype(t, maker.Token, w.w.ID) // the maker owns Q: testers of Q may see their name, not the owner's
	w.setStatus(t, maker.Token, w.q.ID, "TESTING")
	w.q1 = s.NewPublishedIteration(t, maker.Token, w.q.ID)

	w.p3 = s.NewPrototype(t, owner.Token, w.w.ID)
	w.setStatus(t, owner.Token, w.p3.ID, "TESTING")
	s.NewPublishedIteration(t, owner.Token, w.p3.ID)
	w.inviteP3 = w.createInvite(t, owner.Token, w.p3.ID, nil)

	w.inviteP = w.createInvite(t, owner.Token, w.p.ID, nil)
	w.inviteQ = w.createInvite(t, maker.Token, w.q.ID, nil)
	w.revoked = w.createInvite(t, owner.Token, w.p.ID, nil)
	s.Do(t, owner.Token, `mutation($id: ID!) { revokeInvite(id: $id) { id revokedAt } }`, vars{"id": w.revoked.ID}).RequireOK(t)
	w.usedUp = w.createInvite(t, owner.Token, w.p.ID, vars{"maxUses": 1})
	// An alert rule on P and a webhook of W, for the reads of them. The
	// webhook's port discards, and it takes an event no case records.
	s.Do(t, owner.Token, `mutation($id: ID!) { createAlertRule(prototypeID: $id, input: {kind: FEEDBACK_VOTES, threshold: 1000}) { id } }`,
		vars{"id": w.p.ID}).RequireOK(t)
	s.Do(t, owner.Token, `mutation($id: ID!) { createWebhook(input: {workspaceID: $id, url: "http://127.0.0.1:9/", eventKinds: [MEMBER_REMOVED]}) { secret } }`,
		vars{"id": w.w.ID}).RequireOK(t)
	w.redeem(t, "", w.usedUp.Token, "Una Guest", "")

	w.token[asGuestTesterP], w.partG = w.redeem(t, "", w.inviteP.Token, graceName, graceEmail)
	w.guestT2, w.partT2 = w.redeem(t, "", w.inviteP.Token, theoName, theoEmail)
	w.token[asGuestTesterQ], _ = w.redeem(t, "", w.inviteQ.Token, "Quinn Guest", "quinn@example.test")
	tester := s.NewUser(t, umaName)
	if token, _ := w.redeem(t, tester.Token, w.inviteP.Token, umaName, ""); token != "" {
		t.Errorf("redeemInvite while signed in returned a guest token; want null: the user tests on their own account")
	}
	w.user[asUserTesterP] = tester

	other := s.NewUser(t, "Xavier Elsewhere")
	w.user[asOtherOwner] = other
	w.x = s.NewWorkspace(t, other.Token)
	w.px = s.NewPrototype(t, other.Token, w.x.ID)
	w.setStatus(t, other.Token, w.px.ID, "TESTING")
	w.itX = s.NewPublishedIteration(t, other.Token, w.px.ID)
	w.fx = s.LeaveFeedback(t, other.Token, w.itX.ID, nil)

	s.StartTrial(t, viewer.Token, w.it1.ID)
	w.fbV = s.LeaveFeedback(t, viewer.Token, w.it1.ID, nil)
	s.StartTrial(t, w.token[asGuestTesterP], w.it1.ID)
	s.LeaveFeedback(t, w.token[asGuestTesterP], w.it1.ID, nil)
	w.fbU = s.LeaveFeedback(t, tester.Token, w.it1.ID, nil)
	w.trT2 = s.StartTrial(t, w.guestT2, w.it1.ID)
	w.fbT2 = s.LeaveFeedback(t, w.guestT2, w.it1.ID, nil)
	w.fbGQ = s.LeaveFeedback(t, w.token[asGuestTesterQ], w.q1.ID, nil)
	w.comment = s.AddComment(t, owner.Token, w.fbV, "")
	var voted struct {
		Vote struct {
			Votes struct {
				Edges []struct{ Node struct{ ID string } }
			}
		}
	}
	decode(t, s, tester.Token, `mutation($id: ID!) { vote(feedbackID: $id) { votes(first: 1) { edges { node { id } } } } }`,
		vars{"id": w.fbV}, &voted)
	if len(voted.Vote.Votes.Edges) != 1 {
		t.Fatalf("the user tester's vote on %s: got %d votes back, want 1", w.fbV, len(voted.Vote.Votes.Edges))
	}
	w.vote = voted.Vote.Votes.Edges[0].Node.ID
	w.event = timeline(t, s, owner.Token, w.p.ID, vars{"first": 1})[0].ID

	// The revoked token is the owner's: a token that once could do
	// everything in W, and now can do nothing at all.
	revoked := w.logIn(t, owner.Email)
	w.revokedTokenID = w.newTokenID(t, owner.Token, []string{w.ownerTokenID})
	s.Do(t, revoked, `mutation { logOut }`, nil).RequireOK(t)

	for _, r := range []authzRole{asOwner, asMaker, asViewer, asUserTesterP, asOtherOwner} {
		w.token[r] = w.user[r].Token
	}
	w.token[asRevokedToken] = revoked
	return w
}

// createInvite creates an invite to a prototype; extra sets expiresAt or
// maxUses.
func (w *authzWorld) createInvite(t *testing.T, token, prototypeID string, extra vars) authzInvite {
	t.Helper()
	in := vars{"prototypeID": prototypeID}
	for k, v := range extra {
		in[k] = v
	}
	var out struct {
		CreateInvite struct {
			Invite struct{ ID string }
			Token  string
		}
	}
	decode(t, w.s, token, `mutation($in: CreateInviteInput!) { createInvite(input: $in) { invite { id } token } }`,
		vars{"in": in}, &out)
	return authzInvite{ID: out.CreateInvite.Invite.ID, Token: out.CreateInvite.Token}
}

// redeem redeems an invite, anonymously when token is "", and returns the
// guest token it gave (none for a signed-in user) and the participant.
func (w *authzWorld) redeem(t *testing.T, token, secret, name, email string) (guestToken, participant string) {
	t.Helper()
	in := vars{"token": secret, "displayName": name}
	if email != "" {
		in["email"] = email
	}
	var out struct {
		RedeemInvite struct {
			Token       *string
			Participant struct{ ID string }
		}
	}
	decode(t, w.s, token, `mutation($in: RedeemInviteInput!) {
		redeemInvite(input: $in) { token participant { id } }
	}`, vars{"in": in}, &out)
	if out.RedeemInvite.Token != nil {
		guestToken = *out.RedeemInvite.Token
	}
	return guestToken, out.RedeemInvite.Participant.ID
}

func (w *authzWorld) setStatus(t *testing.T, token, prototypeID, status string) {
	t.Helper()
	w.s.Do(t, token, `mutation($id: ID!, $s: PrototypeStatus!) { setPrototypeStatus(id: $id, status: $s) { id } }`,
		vars{"id": prototypeID, "s": status}).RequireOK(t)
}

// logIn signs a fixture user in again and returns the new token.
func (w *authzWorld) logIn(t *testing.T, email string) string {
	t.Helper()
	var out struct{ LogIn struct{ Token string } }
	decode(t, w.s, "", `mutation($in: LogInInput!) { logIn(input: $in) { token } }`,
		vars{"in": vars{"email": email, "password": servertest.Password}}, &out)
	return out.LogIn.Token
}

// tokenIDs lists the IDs of the working tokens of token's user.
func (w *authzWorld) tokenIDs(t *testing.T, token string) []string {
	t.Helper()
	var out struct {
		Viewer *struct{ Tokens []struct{ ID string } }
	}
	decode(t, w.s, token, `{ viewer { tokens { id } } }`, nil, &out)
	if out.Viewer == nil {
		t.Fatal("viewer is null for a user's token")
	}
	ids := make([]string, len(out.Viewer.Tokens))
	for i, tok := range out.Viewer.Tokens {
		ids[i] = tok.ID
	}
	return ids
}

// newTokenID returns the ID of the one token of token's user that is not
// in known.
func (w *authzWorld) newTokenID(t *testing.T, token string, known []string) string {
	t.Helper()
	var fresh []string
	for _, id := range w.tokenIDs(t, token) {
		if !slices.Contains(known, id) {
			fresh = append(fresh, id)
		}
	}
	if len(fresh) != 1 {
		t.Fatalf("tokens not seen before: %v, want exactly one", fresh)
	}
	return fresh[0]
}

// freshToken logs a role's user in again, and returns the new token and
// its ID; roles without an account get one of the owner's.
func (w *authzWorld) freshToken(t *testing.T, r authzRole) (token, id string) {
	t.Helper()
	if !r.hasAccount() {
		r = asOwner
	}
	u := w.user[r]
	known := w.tokenIDs(t, u.Token)
	token = w.logIn(t, u.Email)
	return token, w.newTokenID(t, u.Token, known)
}

// home is the published iteration a role tries and gives feedback on: one
// of its own prototype's. Roles that cannot act get P's, and fail.
func (w *authzWorld) home(r authzRole) string {
	switch r {
	case asGuestTesterQ:
		return w.q1.ID
	case asOtherOwner:
		return w.itX.ID
	}
	return w.it1.ID
}

// ownFeedback is fresh feedback left by the role; roles that cannot leave
// any get the viewer's.
func (w *authzWorld) ownFeedback(t *testing.T, r authzRole) string {
	t.Helper()
	if !r.authenticated() {
		return w.fbV
	}
	return w.s.LeaveFeedback(t, w.token[r], w.home(r), nil)
}

// theirFeedback is args for fresh feedback on P that Theo left: someone
// else's, whoever the role.
func (w *authzWorld) theirFeedback(t *testing.T, _ authzRole) vars {
	t.Helper()
	return vars{"id": w.s.LeaveFeedback(t, w.guestT2, w.it1.ID, nil)}
}

// ownTrial is a fresh trial started by the role; roles that cannot start
// one get Theo's.
func (w *authzWorld) ownTrial(t *testing.T, r authzRole) string {
	t.Helper()
	if !r.authenticated() {
		return w.trT2
	}
	return w.s.StartTrial(t, w.token[r], w.home(r))
}

// newGuest redeems an invite anonymously and returns the guest token.
func (w *authzWorld) newGuest(t *testing.T, invite authzInvite) string {
	t.Helper()
	token, _ := w.redeem(t, "", invite.Token, fmt.Sprintf("Guest %d", time.Now().UnixNano()), "")
	return token
}

// requireUnauthenticated fails t unless token no longer works.
func (w *authzWorld) requireUnauthenticated(t *testing.T, token string) {
	t.Helper()
	w.s.Do(t, token, `{ viewer { id } }`, nil).RequireError(t, "UNAUTHENTICATED", "")
}

// byID returns args that pass one ID as $id.
func byID(id string) func(*testing.T, authzRole) vars {
	return func(*testing.T, authzRole) vars { return vars{"id": id} }
}

// inPrototype returns args naming a prototype by its slugs.
func inPrototype(ws servertest.Workspace, p servertest.Prototype, extra vars) func(*testing.T, authzRole) vars {
	return func(*testing.T, authzRole) vars {
		v := vars{"ws": ws.Slug, "slug": p.Slug}
		for k, x := range extra {
			v[k] = x
		}
		return v
	}
}

// nodeCase is a node(id:) lookup of one object, and the roles' outcomes.
func nodeCase(op, id string, want [authzRoles]authzOutcome) authzCase {
	return authzCase{op: op, query: `query($id: ID!) { node(id: $id) { id } }`, field: "node", args: byID(id), want: want}
}

// cases lists the matrix's columns. Reads come first, then mutations that
// leave the world as it was, then those that change who sees what.
func (w *authzWorld) cases() []authzCase {
	var (
		ok      = wantOK
		visible = wantVisible
		empty   = wantEmpty
		null    = wantNull
		nf      = wantNotFound
		denied  = wantForbidden
		unauth  = wantUnauthenticated
		bad     = wantBadInput
		na      = notApplicable
	)
	const prototypeQuery = `query($ws: String!, $slug: String!%s) {
		prototype(workspace: $ws, slug: $slug) { %s }
	}`
	inP := func(selection string) string { return fmt.Sprintf(prototypeQuery, "", selection) }
	inPWhere := func(selection string) string {
		return fmt.Sprintf(prototypeQuery, ", $where: FeedbackWhereInput", selection)
	}
	withP := inPrototype(w.w, w.p, nil)

	// The timeline as testers see it leaves out invites and drafts.
	timelineOf := func(testers bool) authzOutcome {
		label := "withDraftsAndInvites"
		if testers {
			label = "withoutDraftsOrInvites"
		}
		return authzOutcome{label, func(t *testing.T, r *servertest.Response, field string) {
			t.Helper()
			conn, _ := requireData(t, r, field).(map[string]any)
			if conn == nil {
				t.Fatalf("%s is null; data %s", field, r.Data)
			}
			var invites, draftCreated, drafts int
			edges, _ := conn["edges"].([]any)
			for _, e := range edges {
				n, _ := e.(map[string]any)["node"].(map[string]any)
				kind, _ := n["kind"].(string)
				subject, _ := n["subject"].(map[string]any)
				switch {
				case strings.HasPrefix(kind, "INVITE_"):
					invites++
				case subject == nil || subject["id"] == w.it2.ID:
					drafts++
					if kind == "ITERATION_CREATED" && subject != nil {
						draftCreated++
					}
				}
			}
			switch {
			case testers && (invites > 0 || drafts > 0):
				t.Errorf("a tester sees %d invite events and %d events about drafts, want none", invites, drafts)
			case !testers && (invites == 0 || draftCreated == 0):
				t.Errorf("a member sees %d invite events and %d ITERATION_CREATED of the draft, want both", invites, draftCreated)
			}
		}}
	}
	// viewer.tokens lists working tokens only: never a revoked one.
	workingTokens := authzOutcome{"visible", func(t *testing.T, r *servertest.Response, field string) {
		t.Helper()
		wantVisible.check(t, r, field)
		for _, tok := range requireData(t, r, field).([]any) {
			tok := tok.(map[string]any)
			if tok["revokedAt"] != nil || tok["id"] == w.revokedTokenID {
				t.Errorf("tokens lists revoked token %v", tok["id"])
			}
		}
	}}
	// nodes(ids:) answers each ID on its own: null and NOT_FOUND where the
	// caller may not see it.
	nodesSeen := func(label string, seen ...string) authzOutcome {
		return authzOutcome{label, func(t *testing.T, r *servertest.Response, field string) {
			t.Helper()
			for _, e := range r.Errors {
				if e.Code() != "NOT_FOUND" {
					t.Fatalf("got error %s, want only NOT_FOUND for the nodes not seen", e)
				}
			}
			nodes, _ := decodeData(t, r)[field].([]any)
			ids := []string{w.p.ID, w.px.ID}
			if len(nodes) != len(ids) {
				t.Fatalf("nodes returned %d entries, want %d; data %s", len(nodes), len(ids), r.Data)
			}
			for i, id := range ids {
				n, _ := nodes[i].(map[string]any)
				switch want := slices.Contains(seen, id); {
				case want && (n == nil || n["id"] != id):
					t.Errorf("nodes[%d] = %v, want %s", i, nodes[i], id)
				case !want && n != nil:
					t.Errorf("nodes[%d] = %v, want null", i, nodes[i])
				}
			}
			if hidden := len(ids) - len(seen); len(r.Errors) != hidden {
				t.Errorf("got %d errors, want %d NOT_FOUND", len(r.Errors), hidden)
			}
		}}
	}
	fresh := func(prefix string) string { return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()) }
	ensureOpenFeedback := func(t *testing.T) {
		t.Helper()
		w.s.Do(t, w.token[asOwner], `mutation($id: ID!) { updatePrototype(id: $id, input: {openFeedback: true}) { openFeedback } }`,
			vars{"id": w.p.ID}).RequireOK(t)
	}
	participantQuery := `query($id: ID!) { node(id: $id) { ... on Participant { displayName email user { id } } } }`
	authorQuery := `query($id: ID!) { node(id: $id) { ... on Feedback { author { displayName email user { id } } } } }`

	return []authzCase{
		// ── Reads ───────────────────────────────────────────────────────
		//                owner    maker    viewer   guestP   userP    guestQ   other    anon     revoked
		{op: "viewer", query: `{ viewer { id } }`, field: "viewer",
			want: row(visible, visible, visible, null, visible, null, visible, null, unauth)},
		{op: "introspection", query: `{ __schema { queryType { name } } }`, field: "__schema",
			want: row(visible, visible, visible, visible, visible, visible, visible, visible, unauth)},
		{op: "workspace(W)", query: `query($slug: String!) { workspace(slug: $slug) { id name mission } }`, field: "workspace",
			args: func(*testing.T, authzRole) vars { return vars{"slug": w.w.Slug} },
			want: row(visible, visible, visible, visible, visible, visible, null, unauth, unauth)},
		{op: "workspace(X)", query: `query($slug: String!) { workspace(slug: $slug) { id name } }`, field: "workspace",
			args: func(*testing.T, authzRole) vars { return vars{"slug": w.x.Slug} },
			want: row(null, null, null, null, null, null, visible, unauth, unauth)},
		{op: "prototype(P)", query: inP("id title"), field: "prototype", args: withP,
			want: row(visible, visible, visible, visible, visible, null, null, unauth, unauth)},
		{op: "prototype(Q)", query: inP("id title"), field: "prototype", args: inPrototype(w.w, w.q, nil),
			want: row(visible, visible, visible, null, null, visible, null, unauth, unauth)},
		{op: "prototype(PX)", query: inP("id title"), field: "prototype", args: inPrototype(w.x, w.px, nil),
			want: row(null, null, null, null, null, null, visible, unauth, unauth)},
		{op: "prototype.workspace", query: inP("workspace { name mission }"), field: "prototype.workspace", args: withP,
			want: row(visible, visible, visible, visible, visible, null, null, unauth, unauth)},
		{op: "prototype.owner", query: inP("owner { name }"), field: "prototype.owner", args: withP,
			want: row(visible, visible, visible, visible, visible, null, null, unauth, unauth)},
		{op: "workspace.memberships", query: inP("workspace { memberships { id } }"), field: "prototype.workspace.memberships", args: withP,
			want: row(visible, visible, visible, empty, empty, null, null, unauth, unauth)},
		{op: "workspace.prototypes(where:id=Q)", field: "prototype.workspace.prototypes",
			query: `query($ws: String!, $slug: String!, $other: ID!) {
				prototype(workspace: $ws, slug: $slug) { workspace { prototypes(where: {id: $other}) { totalCount } } }
			}`,
			args: inPrototype(w.w, w.p, vars{"other": w.q.ID}),
			want: row(visible, visible, visible, empty, empty, null, null, unauth, unauth)},
		{op: "workspace.prototypes(where:id=P)", field: "prototype.workspace.prototypes",
			query: `query($ws: String!, $slug: String!, $other: ID!) {
				prototype(workspace: $ws, slug: $slug) { workspace { prototypes(where: {id: $other}) { totalCount } } }
			}`,
			args: inPrototype(w.w, w.q, vars{"other": w.p.ID}),
			want: row(visible, visible, visible, null, null, empty, null, unauth, unauth)},
		{op: "prototype.alertRules", query: inP("alertRules { id }"), field: "prototype.alertRules", args: withP,
			want: row(visible, visible, visible, empty, empty, null, null, unauth, unauth)},
		{op: "webhooks(W)", query: `query($id: ID!) { webhooks(workspace: $id) { id deliveries(first: 5) { totalCount } } }`, field: "webhooks",
			args: byID(w.w.ID),
			want: row(visible, empty, empty, empty, empty, empty, empty, unauth, unauth)},
		{op: "prototype.iterations", query: inP("iterations(first: 100) { totalCount }"), field: "prototype.iterations", args: withP,
			want: row(visible, visible, visible, visible, visible, null, null, unauth, unauth)},
		{op: "prototype.iterations(where:DRAFT)", query: inP("iterations(where: {status: DRAFT}) { totalCount }"),
			field: "prototype.iterations", args: withP,
			want: row(visible, visible, visible, empty, empty, null, null, unauth, unauth)},
		{op: "prototype.feedback", query: inP("feedback(first: 100) { totalCount }"), field: "prototype.feedback", args: withP,
			want: row(visible, visible, visible, visible, visible, null, null, unauth, unauth)},
		{op: "prototype.feedback(where:iterationID=PX's)", query: inPWhere("feedback(where: $where) { totalCount edges { node { id } } }"),
			field: "prototype.feedback", args: inPrototype(w.w, w.p, vars{"where": vars{"iterationID": w.itX.ID}}),
			want: row(empty, empty, empty, empty, empty, null, null, unauth, unauth)},
		{op: "prototype.feedback(where:id=FX)", query: inPWhere("feedback(where: $where) { totalCount edges { node { id } } }"),
			field: "prototype.feedback", args: inPrototype(w.w, w.p, vars{"where": vars{"idIn": []string{w.fx}}}),
			want: row(empty, empty, empty, empty, empty, null, null, unauth, unauth)},
		{op: "prototype(PX).feedback(where:iterationID=P's)", query: inPWhere("feedback(where: $where) { totalCount edges { node { id } } }"),
			field: "prototype.feedback", args: inPrototype(w.x, w.px, vars{"where": vars{"iterationID": w.it1.ID}}),
			want: row(null, null, null, null, null, null, empty, unauth, unauth)},
		{op: "prototype.participants", query: inP("participants(first: 100) { totalCount }"), field: "prototype.participants", args: withP,
			want: row(visible, visible, visible, visible, visible, null, null, unauth, unauth)},
		{op: "prototype.timeline", query: inP("timeline(first: 100) { totalCount }"), field: "prototype.timeline", args: withP,
			want: row(visible, visible, visible, visible, visible, null, null, unauth, unauth)},
		{op: "prototype.timeline(drafts,invites)", field: "prototype.timeline", args: withP,
			query: inP(`timeline(first: 100, where: {kindIn: [ITERATION_CREATED, ITERATION_UPDATED, INVITE_CREATED, INVITE_REVOKED]}) {
				edges { node { kind subject { id } } }
			}`),
			want: row(timelineOf(false), timelineOf(false), timelineOf(false), timelineOf(true), timelineOf(true), null, null, unauth, unauth)},
		{op: "prototype.invites", query: inP("invites(first: 100) { totalCount }"), field: "prototype.invites", args: withP,
			want: row(visible, visible, empty, empty, empty, null, null, unauth, unauth)},
		{op: "iteration.feedback", query: `query($id: ID!) { node(id: $id) { ... on Iteration { feedback(first: 100) { totalCount } } } }`,
			field: "node.feedback", args: byID(w.it1.ID),
			want: row(visible, visible, visible, visible, visible, nf, nf, unauth, unauth)},
		{op: "iteration.trials(own)", field: "node.trials",
			query: `query($id: ID!, $trial: ID!) { node(id: $id) { ... on Iteration { trials(where: {id: $trial}) { totalCount } } } }`,
			args:  func(t *testing.T, r authzRole) vars { return vars{"id": w.home(r), "trial": w.ownTrial(t, r)} },
			want:  row(visible, visible, visible, visible, visible, visible, visible, unauth, unauth)},
		{op: "iteration.trials(another's)", field: "node.trials",
			query: `query($id: ID!, $trial: ID!) { node(id: $id) { ... on Iteration { trials(where: {id: $trial}) { totalCount } } } }`,
			args:  func(*testing.T, authzRole) vars { return vars{"id": w.it1.ID, "trial": w.trT2} },
			want:  row(visible, visible, visible, empty, empty, nf, nf, unauth, unauth)},
		{op: "feedback.comments", query: `query($id: ID!) { node(id: $id) { ... on Feedback { comments(first: 100) { totalCount } } } }`,
			field: "node.comments", args: byID(w.fbV),
			want: row(visible, visible, visible, visible, visible, nf, nf, unauth, unauth)},
		{op: "feedback.votes", query: `query($id: ID!) { node(id: $id) { ... on Feedback { votes(first: 100) { totalCount } } } }`,
			field: "node.votes", args: byID(w.fbV),
			want: row(visible, visible, visible, visible, visible, nf, nf, unauth, unauth)},
		{op: "feedback.similar", query: `query($id: ID!) { node(id: $id) { ... on Feedback { similar { score } } } }`,
			field: "node.similar", args: byID(w.fbV),
			want: row(visible, visible, visible, visible, visible, nf, nf, unauth, unauth)},
		{op: "search(W)", query: `query($id: ID!) { search(workspace: $id, query: "skipped") { edges { rank } } }`,
			field: "search.edges", args: byID(w.w.ID),
			want: row(visible, visible, visible, visible, visible, visible, nf, unauth, unauth)},
		{op: "search(X)", query: `query($id: ID!) { search(workspace: $id, query: "skipped") { edges { rank } } }`,
			field: "search.edges", args: byID(w.x.ID),
			want: row(nf, nf, nf, nf, nf, nf, visible, unauth, unauth)},

		// ── Subscriptions: the first message, a replayed event or a refusal ─
		{op: "prototypeEvents(P)", stream: true, field: "prototypeEvents",
			query: `subscription($id: ID!) { prototypeEvents(prototype: $id) { seq kind } }`, args: byID(w.p.ID),
			want: row(visible, visible, visible, visible, visible, nf, nf, unauth, unauth)},
		{op: "prototypeEvents(PX)", stream: true, field: "prototypeEvents",
			query: `subscription($id: ID!) { prototypeEvents(prototype: $id) { seq kind } }`, args: byID(w.px.ID),
			want: row(nf, nf, nf, nf, nf, nf, visible, unauth, unauth)},
		{op: "workspaceEvents(W)", stream: true, field: "workspaceEvents",
			query: `subscription($id: ID!) { workspaceEvents(workspace: $id) { seq kind } }`, args: byID(w.w.ID),
			want: row(visible, visible, visible, denied, denied, denied, nf, unauth, unauth)},

		// ── node(id:) and nodes(ids:) ───────────────────────────────────
		nodeCase("node(W)", w.w.ID, row(visible, visible, visible, visible, visible, visible, nf, unauth, unauth)),
		nodeCase("node(X)", w.x.ID, row(nf, nf, nf, nf, nf, nf, visible, unauth, unauth)),
		nodeCase("node(owner)", w.user[asOwner].ID, row(visible, visible, visible, visible, visible, nf, nf, unauth, unauth)),
		nodeCase("node(maker)", w.user[asMaker].ID, row(visible, visible, visible, nf, nf, visible, nf, unauth, unauth)),
		nodeCase("node(viewer)", w.user[asViewer].ID, row(visible, visible, visible, nf, nf, nf, nf, unauth, unauth)),
		nodeCase("node(membership)", w.memberV, row(visible, visible, visible, nf, nf, nf, nf, unauth, unauth)),
		nodeCase("node(P)", w.p.ID, row(visible, visible, visible, visible, visible, nf, nf, unauth, unauth)),
		nodeCase("node(Q)", w.q.ID, row(visible, visible, visible, nf, nf, visible, nf, unauth, unauth)),
		nodeCase("node(PX)", w.px.ID, row(nf, nf, nf, nf, nf, nf, visible, unauth, unauth)),
		nodeCase("node(iteration)", w.it1.ID, row(visible, visible, visible, visible, visible, nf, nf, unauth, unauth)),
		nodeCase("node(draftIteration)", w.it2.ID, row(visible, visible, visible, nf, nf, nf, nf, unauth, unauth)),
		nodeCase("node(invite)", w.inviteP.ID, row(visible, visible, nf, nf, nf, nf, nf, unauth, unauth)),
		nodeCase("node(participant)", w.partT2, row(visible, visible, visible, visible, visible, nf, nf, unauth, unauth)),
		nodeCase("node(trialOfAnother)", w.trT2, row(visible, visible, visible, nf, nf, nf, nf, unauth, unauth)),
		{op: "node(ownTrial)", query: `query($id: ID!) { node(id: $id) { id } }`, field: "node",
			args: func(t *testing.T, r authzRole) vars { return vars{"id": w.ownTrial(t, r)} },
			want: row(visible, visible, visible, visible, visible, visible, visible, unauth, unauth)},
		nodeCase("node(feedback)", w.fbV, row(visible, visible, visible, visible, visible, nf, nf, unauth, unauth)),
		nodeCase("node(feedbackOnQ)", w.fbGQ, row(visible, visible, visible, nf, nf, visible, nf, unauth, unauth)),
		nodeCase("node(FX)", w.fx, row(nf, nf, nf, nf, nf, nf, visible, unauth, unauth)),
		nodeCase("node(comment)", w.comment, row(visible, visible, visible, visible, visible, nf, nf, unauth, unauth)),
		nodeCase("node(vote)", w.vote, row(visible, visible, visible, visible, visible, nf, nf, unauth, unauth)),
		nodeCase("node(event)", w.event, row(visible, visible, visible, visible, visible, nf, nf, unauth, unauth)),
		nodeCase("node(ownerToken)", w.ownerTokenID, row(visible, nf, nf, nf, nf, nf, nf, unauth, unauth)),
		{op: "nodes([P,PX])", query: `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, field: "nodes",
			args: func(*testing.T, authzRole) vars { return vars{"ids": []string{w.p.ID, w.px.ID}} },
			want: row(nodesSeen("P", w.p.ID), nodesSeen("P", w.p.ID), nodesSeen("P", w.p.ID), nodesSeen("P", w.p.ID),
				nodesSeen("P", w.p.ID), nodesSeen("neither"), nodesSeen("PX", w.px.ID), unauth, unauth)},

		// ── Who sees whose name ─────────────────────────────────────────
		{op: "participant(Theo)", query: participantQuery, field: "node", args: byID(w.partT2),
			want: row(wantNamed(theoName, theoEmail), wantNamed(theoName, theoEmail), wantNamed(theoName, theoEmail),
				wantMasked(theoName), wantMasked(theoName), nf, nf, unauth, unauth)},
		{op: "participant(Grace)", query: participantQuery, field: "node", args: byID(w.partG),
			want: row(wantNamed(graceName, graceEmail), wantNamed(graceName, graceEmail), wantNamed(graceName, graceEmail),
				wantNamed(graceName, graceEmail), wantMasked(graceName), nf, nf, unauth, unauth)},
		{op: "feedback(Uma's).author", query: authorQuery, field: "node.author", args: byID(w.fbU),
			want: row(wantNamed(umaName, ""), wantNamed(umaName, ""), wantNamed(umaName, ""),
				wantMasked(umaName), wantNamed(umaName, ""), nf, nf, unauth, unauth)},

		// A member who took part is the team, not a tester: a tester may see
		// their name, but not reach their account (and its email) through it.
		{op: "feedback(viewer's).author.user", field: "node.author.user",
			query: `query($id: ID!) { node(id: $id) { ... on Feedback { author { user { id name email } } } } }`,
			args:  byID(w.fbV),
			want:  row(visible, visible, visible, null, null, nf, nf, unauth, unauth)},

		// ── Tokens ──────────────────────────────────────────────────────
		{op: "viewer.tokens", query: `{ viewer { tokens { id revokedAt } } }`, field: "viewer.tokens",
			want: row(workingTokens, workingTokens, workingTokens, null, workingTokens, null, workingTokens, null, unauth)},
		{op: "user.tokens(owner's)", query: `query($id: ID!) { node(id: $id) { ... on User { tokens { id } } } }`,
			field: "node.tokens", args: byID(w.user[asOwner].ID),
			want: row(visible, empty, empty, empty, empty, nf, nf, unauth, unauth)},

		// ── Insights and verified fixes ─────────────────────────────────
		// Scorecards and impact are aggregates over everyone's trials: the
		// team's. Verdicts are the author's.
		{op: "iteration(1).scorecard", query: `query($id: ID!) { node(id: $id) { ... on Iteration { scorecard { trialsStarted } } } }`,
			field: "node.scorecard", args: byID(w.it1.ID),
			want: row(visible, visible, visible, denied, denied, nf, nf, unauth, unauth)},
		{op: "prototype(P).impact", query: `query($id: ID!) { node(id: $id) { ... on Prototype { impact { estimates } } } }`,
			field: "node.impact", args: byID(w.p.ID),
			want: row(visible, visible, visible, denied, denied, nf, nf, unauth, unauth)},
		{op: "iteration(1).youSaidWeDid", query: `query($id: ID!) { node(id: $id) { ... on Iteration { youSaidWeDid { feedbackCount } } } }`,
			field: "node.youSaidWeDid", args: byID(w.it1.ID),
			want: row(visible, visible, visible, visible, visible, nf, nf, unauth, unauth)},
		{op: "pendingVerifications", query: `{ pendingVerifications { totalCount } }`, field: "pendingVerifications",
			want: row(empty, empty, empty, empty, empty, empty, empty, unauth, unauth)},
		{op: "verifyFix(own, OPEN)", query: `mutation($id: ID!) { verifyFix(feedback: $id, verdict: FIXED) { id } }`,
			field: "verifyFix", args: func(t *testing.T, r authzRole) vars { return vars{"id": w.ownFeedback(t, r)} },
			want: row(bad, bad, bad, bad, bad, bad, bad, unauth, unauth)},
		{op: "verifyFix(another's)", query: `mutation($id: ID!) { verifyFix(feedback: $id, verdict: FIXED) { id } }`,
			field: "verifyFix", args: w.theirFeedback,
			want: row(denied, denied, denied, denied, denied, nf, nf, unauth, unauth)},

		// ── Mutations that leave the world as it was ────────────────────
		{op: "signUp", query: `mutation($in: SignUpInput!) { signUp(input: $in) { token } }`, field: "signUp",
			args: func(*testing.T, authzRole) vars {
				return vars{"in": vars{"email": fresh("new") + "@example.test", "name": "New", "password": servertest.Password}}
			},
			want: row(ok, ok, ok, ok, ok, ok, ok, ok, unauth)},
		{op: "logIn", query: `mutation($in: LogInInput!) { logIn(input: $in) { token } }`, field: "logIn",
			args: func(*testing.T, authzRole) vars {
				return vars{"in": vars{"email": w.user[asViewer].Email, "password": servertest.Password}}
			},
			want: row(ok, ok, ok, ok, ok, ok, ok, ok, unauth)},
		{op: "createWorkspace", query: `mutation($in: CreateWorkspaceInput!) { createWorkspace(input: $in) { id } }`,
			field: "createWorkspace",
			args: func(*testing.T, authzRole) vars {
				slug := fresh("ws")
				return vars{"in": vars{"name": slug, "slug": slug}}
			},
			want: row(ok, ok, ok, unauth, ok, unauth, ok, unauth, unauth)},
		{op: "updateWorkspace", query: `mutation($id: ID!) { updateWorkspace(id: $id, input: {mission: "Feed every family."}) { id } }`,
			field: "updateWorkspace", args: byID(w.w.ID),
			want: row(ok, denied, denied, denied, denied, denied, nf, unauth, unauth)},
		{op: "addMember", query: `mutation($in: AddMemberInput!) { addMember(input: $in) { id } }`, field: "addMember",
			args: func(t *testing.T, _ authzRole) vars {
				u := w.s.NewUser(t, "Newcomer")
				return vars{"in": vars{"workspaceID": w.w.ID, "email": u.Email, "role": "VIEWER"}}
			},
			want: row(ok, denied, denied, denied, denied, denied, nf, unauth, unauth)},
		{op: "setMemberRole", query: `mutation($id: ID!) { setMemberRole(id: $id, role: MAKER) { id role } }`, field: "setMemberRole",
			args: func(t *testing.T, _ authzRole) vars {
				u := w.s.NewUser(t, "Member")
				return vars{"id": w.s.AddMember(t, w.token[asOwner], w.w.ID, u.Email, "VIEWER")}
			},
			want: row(ok, denied, denied, nf, nf, nf, nf, unauth, unauth)},
		{op: "removeMember", query: `mutation($id: ID!) { removeMember(id: $id) { id } }`, field: "removeMember",
			args: func(t *testing.T, _ authzRole) vars {
				u := w.s.NewUser(t, "Member")
				return vars{"id": w.s.AddMember(t, w.token[asOwner], w.w.ID, u.Email, "VIEWER")}
			},
			want: row(ok, denied, denied, nf, nf, nf, nf, unauth, unauth)},
		{op: "createPrototype", query: `mutation($in: CreatePrototypeInput!) { createPrototype(input: $in) { id } }`,
			field: "createPrototype",
			args: func(*testing.T, authzRole) vars {
				slug := fresh("proto")
				return vars{"in": vars{"workspaceID": w.w.ID, "title": slug, "slug": slug}}
			},
			want: row(ok, ok, denied, denied, denied, denied, nf, unauth, unauth)},
		{op: "updatePrototype", query: `mutation($id: ID!) { updatePrototype(id: $id, input: {problem: "Forms take too long."}) { id } }`,
			field: "updatePrototype", args: byID(w.p.ID),
			want: row(ok, ok, denied, denied, denied, nf, nf, unauth, unauth)},
		{op: "createIteration", query: `mutation($id: ID!) { createIteration(prototypeID: $id, input: {title: "Next"}) { id } }`,
			field: "createIteration", args: byID(w.p.ID),
			want: row(ok, ok, denied, denied, denied, nf, nf, unauth, unauth)},
		{op: "updateIteration", query: `mutation($id: ID!) { updateIteration(id: $id, input: {changelog: "Fewer steps."}) { id } }`,
			field: "updateIteration", args: byID(w.it1.ID),
			want: row(ok, ok, denied, denied, denied, nf, nf, unauth, unauth)},
		{op: "updateIteration(draft)", query: `mutation($id: ID!) { updateIteration(id: $id, input: {changelog: "Fewer steps."}) { id } }`,
			field: "updateIteration", args: byID(w.it2.ID),
			want: row(ok, ok, denied, nf, nf, nf, nf, unauth, unauth)},
		{op: "publishIteration", query: `mutation($id: ID!) { publishIteration(id: $id) { id } }`, field: "publishIteration",
			args: func(t *testing.T, _ authzRole) vars {
				return vars{"id": w.s.NewIteration(t, w.token[asOwner], w.p.ID).ID}
			},
			want: row(ok, ok, denied, nf, nf, nf, nf, unauth, unauth)},
		{op: "retireIteration", query: `mutation($id: ID!) { retireIteration(id: $id) { id } }`, field: "retireIteration",
			args: func(t *testing.T, _ authzRole) vars {
				return vars{"id": w.s.NewPublishedIteration(t, w.token[asOwner], w.p.ID).ID}
			},
			want: row(ok, ok, denied, denied, denied, nf, nf, unauth, unauth)},
		{op: "createAlertRule", query: `mutation($id: ID!) { createAlertRule(prototypeID: $id, input: {kind: RATING_BELOW, threshold: 1}) { id } }`,
			field: "createAlertRule", args: byID(w.p.ID),
			want: row(ok, ok, denied, denied, denied, nf, nf, unauth, unauth)},
		{op: "createWebhook", query: `mutation($id: ID!) { createWebhook(input: {workspaceID: $id, url: "http://127.0.0.1:9/", eventKinds: [MEMBER_REMOVED]}) { secret } }`,
			field: "createWebhook", args: byID(w.w.ID),
			want: row(ok, denied, denied, denied, denied, denied, nf, unauth, unauth)},
		{op: "updateAlertRule", query: `mutation($id: ID!) { updateAlertRule(id: $id, input: {threshold: 2}) { id } }`, field: "updateAlertRule",
			args: func(t *testing.T, _ authzRole) vars {
				var out struct{ CreateAlertRule struct{ ID string } }
				decode(t, w.s, w.token[asOwner], `mutation($id: ID!) { createAlertRule(prototypeID: $id, input: {kind: FEEDBACK_VOTES, threshold: 1000}) { id } }`,
					vars{"id": w.p.ID}, &out)
				return vars{"id": out.CreateAlertRule.ID}
			},
			want: row(ok, ok, denied, nf, nf, nf, nf, unauth, unauth)},
		{op: "deleteWebhook", query: `mutation($id: ID!) { deleteWebhook(id: $id) { id } }`, field: "deleteWebhook",
			args: func(t *testing.T, _ authzRole) vars {
				var out struct {
					CreateWebhook struct{ Webhook struct{ ID string } }
				}
				decode(t, w.s, w.token[asOwner], `mutation($id: ID!) { createWebhook(input: {workspaceID: $id, url: "http://127.0.0.1:9/", eventKinds: [MEMBER_REMOVED]}) { webhook { id } } }`,
					vars{"id": w.w.ID}, &out)
				return vars{"id": out.CreateWebhook.Webhook.ID}
			},
			want: row(ok, nf, nf, nf, nf, nf, nf, unauth, unauth)},
		{op: "createInvite", query: `mutation($id: ID!) { createInvite(input: {prototypeID: $id}) { token } }`,
			field: "createInvite", args: byID(w.p.ID),
			want: row(ok, ok, denied, denied, denied, nf, nf, unauth, unauth)},
		{op: "revokeInvite", query: `mutation($id: ID!) { revokeInvite(id: $id) { id } }`, field: "revokeInvite",
			args: func(t *testing.T, _ authzRole) vars {
				return vars{"id": w.createInvite(t, w.token[asOwner], w.p.ID, nil).ID}
			},
			want: row(ok, ok, nf, nf, nf, nf, nf, unauth, unauth)},
		{op: "startTrial", query: `mutation($id: ID!) { startTrial(input: {iterationID: $id}) { id } }`, field: "startTrial",
			args: byID(w.it1.ID),
			want: row(ok, ok, ok, ok, ok, nf, nf, unauth, unauth)},
		{op: "startTrial(draft)", query: `mutation($id: ID!) { startTrial(input: {iterationID: $id}) { id } }`, field: "startTrial",
			args: byID(w.it2.ID),
			want: row(bad, bad, bad, nf, nf, nf, nf, unauth, unauth)},
		{op: "startTrial(X)", query: `mutation($id: ID!) { startTrial(input: {iterationID: $id}) { id } }`, field: "startTrial",
			args: byID(w.itX.ID),
			want: row(nf, nf, nf, nf, nf, nf, ok, unauth, unauth)},
		{op: "endTrial(own)", query: `mutation($id: ID!) { endTrial(id: $id, outcome: COMPLETED) { id } }`, field: "endTrial",
			args: func(t *testing.T, r authzRole) vars { return vars{"id": w.ownTrial(t, r)} },
			want: row(ok, ok, ok, ok, ok, ok, ok, unauth, unauth)},
		{op: "endTrial(another's)", query: `mutation($id: ID!) { endTrial(id: $id, outcome: COMPLETED) { id } }`, field: "endTrial",
			args: func(t *testing.T, _ authzRole) vars { return vars{"id": w.s.StartTrial(t, w.guestT2, w.it1.ID)} },
			want: row(denied, denied, denied, nf, nf, nf, nf, unauth, unauth)},
		{op: "leaveFeedback", query: `mutation($id: ID!) { leaveFeedback(input: {iterationID: $id, kind: IDEA, body: "Skip step two."}) { id } }`,
			field: "leaveFeedback", args: byID(w.it1.ID),
			want: row(ok, ok, ok, ok, ok, nf, nf, unauth, unauth)},
		{op: "leaveFeedback(draft)", query: `mutation($id: ID!) { leaveFeedback(input: {iterationID: $id, kind: IDEA, body: "Skip step two."}) { id } }`,
			field: "leaveFeedback", args: byID(w.it2.ID),
			want: row(bad, bad, bad, nf, nf, nf, nf, unauth, unauth)},
		{op: "leaveFeedback(X)", query: `mutation($id: ID!) { leaveFeedback(input: {iterationID: $id, kind: IDEA, body: "Skip step two."}) { id } }`,
			field: "leaveFeedback", args: byID(w.itX.ID),
			want: row(nf, nf, nf, nf, nf, nf, ok, unauth, unauth)},
		{op: "editFeedback(own)", query: `mutation($id: ID!) { editFeedback(id: $id, input: {body: "Skip steps two and three."}) { id } }`,
			field: "editFeedback", args: func(t *testing.T, r authzRole) vars { return vars{"id": w.ownFeedback(t, r)} },
			want: row(ok, ok, ok, ok, ok, ok, ok, unauth, unauth)},
		{op: "editFeedback(another's)", query: `mutation($id: ID!) { editFeedback(id: $id, input: {body: "Skip steps two and three."}) { id } }`,
			field: "editFeedback", args: w.theirFeedback,
			want: row(denied, denied, denied, denied, denied, nf, nf, unauth, unauth)},
		{op: "retractFeedback(own)", query: `mutation($id: ID!) { retractFeedback(id: $id) { id } }`,
			field: "retractFeedback", args: func(t *testing.T, r authzRole) vars { return vars{"id": w.ownFeedback(t, r)} },
			want: row(ok, ok, ok, ok, ok, ok, ok, unauth, unauth)},
		{op: "retractFeedback(another's)", query: `mutation($id: ID!) { retractFeedback(id: $id) { id } }`,
			field: "retractFeedback", args: w.theirFeedback,
			want: row(denied, denied, denied, denied, denied, nf, nf, unauth, unauth)},
		{op: "setFeedbackStatus", query: `mutation($id: ID!) { setFeedbackStatus(id: $id, status: ACKNOWLEDGED) { id } }`,
			field: "setFeedbackStatus", args: w.theirFeedback,
			want: row(ok, ok, denied, denied, denied, nf, nf, unauth, unauth)},
		{op: "setFeedbackStatus(FX)", query: `mutation($id: ID!) { setFeedbackStatus(id: $id, status: ACKNOWLEDGED) { id } }`,
			field: "setFeedbackStatus", args: func(t *testing.T, _ authzRole) vars {
				return vars{"id": w.s.LeaveFeedback(t, w.token[asOtherOwner], w.itX.ID, nil)}
			},
			want: row(nf, nf, nf, nf, nf, nf, ok, unauth, unauth)},
		{op: "markAddressed", query: `mutation($ids: [ID!]!, $it: ID!) { markAddressed(feedbackIDs: $ids, iterationID: $it) { id } }`,
			field: "markAddressed", args: func(t *testing.T, _ authzRole) vars {
				return vars{"ids": []any{w.theirFeedback(t, asOwner)["id"]}, "it": w.it3.ID}
			},
			want: row(ok, ok, denied, denied, denied, nf, nf, unauth, unauth)},
		{op: "mergeFeedback", query: `mutation($dup: ID!, $orig: ID!) { mergeFeedback(duplicate: $dup, original: $orig) { id } }`,
			field: "mergeFeedback", args: func(t *testing.T, _ authzRole) vars {
				return vars{"dup": w.theirFeedback(t, asOwner)["id"], "orig": w.theirFeedback(t, asOwner)["id"]}
			},
			want: row(ok, ok, denied, denied, denied, nf, nf, unauth, unauth)},
		{op: "mergeFeedback(FX)", query: `mutation($dup: ID!, $orig: ID!) { mergeFeedback(duplicate: $dup, original: $orig) { id } }`,
			field: "mergeFeedback", args: func(t *testing.T, _ authzRole) vars {
				return vars{"dup": w.s.LeaveFeedback(t, w.token[asOtherOwner], w.itX.ID, nil), "orig": w.fx}
			},
			want: row(nf, nf, nf, nf, nf, nf, ok, unauth, unauth)},
		{op: "addComment(ownFeedback)", query: `mutation($id: ID!) { addComment(input: {feedbackID: $id, body: "Same here."}) { id } }`,
			field: "addComment", args: func(t *testing.T, r authzRole) vars { return vars{"id": w.ownFeedback(t, r)} },
			want: row(ok, ok, ok, ok, ok, ok, ok, unauth, unauth)},
		{op: "addComment(another'sFeedback)", query: `mutation($id: ID!) { addComment(input: {feedbackID: $id, body: "Same here."}) { id } }`,
			field: "addComment", args: byID(w.fbT2),
			want: row(ok, ok, ok, denied, denied, nf, nf, unauth, unauth)},
		{op: "addComment(FX)", query: `mutation($id: ID!) { addComment(input: {feedbackID: $id, body: "Same here."}) { id } }`,
			field: "addComment", args: byID(w.fx),
			want: row(nf, nf, nf, nf, nf, nf, ok, unauth, unauth)},
		{op: "vote", query: `mutation($id: ID!) { vote(feedbackID: $id) { id } }`, field: "vote", args: byID(w.fbT2),
			want: row(ok, ok, ok, ok, ok, nf, nf, unauth, unauth)},
		{op: "unvote", query: `mutation($id: ID!) { unvote(feedbackID: $id) { id } }`, field: "unvote", args: byID(w.fbT2),
			want: row(ok, ok, ok, ok, ok, nf, nf, unauth, unauth)},
		{op: "vote(FX)", query: `mutation($id: ID!) { vote(feedbackID: $id) { id } }`, field: "vote", args: byID(w.fx),
			want: row(nf, nf, nf, nf, nf, nf, ok, unauth, unauth)},
		{op: "unvote(FX)", query: `mutation($id: ID!) { unvote(feedbackID: $id) { id } }`, field: "unvote", args: byID(w.fx),
			want: row(nf, nf, nf, nf, nf, nf, ok, unauth, unauth)},
		// A guest cannot learn its token's ID (it has no User.tokens), so
		// it has no revokeToken of its own: it uses logOut.
		{op: "revokeToken(own)", query: `mutation($id: ID!) { revokeToken(id: $id) { id revokedAt } }`,
			field: "revokeToken",
			args: func(t *testing.T, r authzRole) vars {
				token, id := w.freshToken(t, r)
				return vars{"id": id, "_token": token}
			},
			then: func(t *testing.T, _ authzRole, outcome string, v vars, _ *servertest.Response) {
				if outcome == wantOK.label {
					w.requireUnauthenticated(t, v["_token"].(string))
				}
			},
			want: row(ok, ok, ok, na, ok, na, ok, unauth, unauth)},
		{op: "revokeToken(another's)", query: `mutation($id: ID!) { revokeToken(id: $id) { id revokedAt } }`,
			field: "revokeToken",
			args: func(t *testing.T, r authzRole) vars {
				victim := asOwner
				if r == asOwner {
					victim = asMaker
				}
				token, id := w.freshToken(t, victim)
				return vars{"id": id, "_token": token}
			},
			then: func(t *testing.T, _ authzRole, _ string, v vars, _ *servertest.Response) {
				w.s.Do(t, v["_token"].(string), `{ viewer { id } }`, nil).RequireOK(t) // still works
			},
			want: row(nf, nf, nf, nf, nf, nf, nf, unauth, unauth)},
		{op: "logOut", query: `mutation { logOut }`, field: "logOut",
			as: func(t *testing.T, r authzRole) string {
				switch {
				case r == asGuestTesterP:
					return w.newGuest(t, w.inviteP)
				case r == asGuestTesterQ:
					return w.newGuest(t, w.inviteQ)
				case r.hasAccount():
					token, _ := w.freshToken(t, r)
					return token
				}
				return w.token[r]
			},
			want: row(ok, ok, ok, ok, ok, ok, ok, unauth, unauth)},

		// ── Mutations that change who sees what ─────────────────────────
		{op: "participant(Theo).openFeedback", query: participantQuery, field: "node",
			args: func(t *testing.T, _ authzRole) vars { ensureOpenFeedback(t); return vars{"id": w.partT2} },
			want: row(wantNamed(theoName, theoEmail), wantNamed(theoName, theoEmail), wantNamed(theoName, theoEmail),
				wantNamed(theoName, ""), wantNamed(theoName, ""), nf, nf, unauth, unauth)},
		{op: "feedback(Uma's).author.openFeedback", query: authorQuery, field: "node.author",
			args: func(t *testing.T, _ authzRole) vars { ensureOpenFeedback(t); return vars{"id": w.fbU} },
			want: row(wantNamed(umaName, ""), wantNamed(umaName, ""), wantNamed(umaName, ""),
				wantNamed(umaName, ""), wantNamed(umaName, ""), nf, nf, unauth, unauth)},
		// Editors move a fresh prototype along; everyone else tries to
		// shelve P, which must stay in TESTING.
		{op: "setPrototypeStatus", query: `mutation($id: ID!, $s: PrototypeStatus!) { setPrototypeStatus(id: $id, status: $s) { id } }`,
			field: "setPrototypeStatus",
			args: func(t *testing.T, r authzRole) vars {
				if r == asOwner || r == asMaker {
					return vars{"id": w.s.NewPrototype(t, w.token[r], w.w.ID).ID, "s": "TESTING"}
				}
				return vars{"id": w.p.ID, "s": "SHELVED"}
			},
			want: row(ok, ok, denied, denied, denied, nf, nf, unauth, unauth)},
		// Claiming comes before redeeming: a user who redeemed P3's invite
		// takes part in P3, and a guest's participation there cannot be
		// merged into theirs.
		{op: "claimGuest", query: `mutation($token: String!) { claimGuest(guestToken: $token) { id } }`, field: "claimGuest",
			args: func(t *testing.T, _ authzRole) vars { return vars{"token": w.newGuest(t, w.inviteP3)} },
			then: func(t *testing.T, _ authzRole, outcome string, v vars, _ *servertest.Response) {
				if outcome == wantOK.label {
					w.requireUnauthenticated(t, v["token"].(string))
				}
			},
			want: row(ok, ok, ok, unauth, ok, unauth, ok, unauth, unauth)},
		{op: "redeemInvite", query: `mutation($in: RedeemInviteInput!) {
			redeemInvite(input: $in) { token participant { id displayName } prototype { id } }
		}`,
			field: "redeemInvite",
			args: func(*testing.T, authzRole) vars {
				return vars{"in": vars{"token": w.inviteP3.Token, "displayName": "Newcomer"}}
			},
			then: func(t *testing.T, r authzRole, outcome string, _ vars, resp *servertest.Response) {
				if outcome != wantOK.label {
					return
				}
				token, _ := requireData(t, resp, "redeemInvite.token").(string)
				// A new guest sees its own name: it is no stranger to itself.
				if name := requireData(t, resp, "redeemInvite.participant.displayName"); !r.hasAccount() && name != "Newcomer" {
					t.Errorf("the new guest's participant is shown as %v, want its own name, Newcomer", name)
				}
				switch {
				case r.hasAccount() && token != "":
					t.Errorf("a signed-in user got a guest token; want null")
				case !r.hasAccount() && token == "":
					t.Errorf("a caller without an account got no guest token")
				case !r.hasAccount():
					w.s.Do(t, token, `query($id: ID!) { node(id: $id) { id } }`, vars{"id": w.p3.ID}).RequireOK(t)
				}
			},
			want: row(ok, ok, ok, ok, ok, ok, ok, ok, unauth)},
		{op: "redeemInvite(expired)", query: `mutation($in: RedeemInviteInput!) { redeemInvite(input: $in) { token } }`,
			field: "redeemInvite",
			args: func(*testing.T, authzRole) vars {
				time.Sleep(time.Until(w.expiresAt.Add(100 * time.Millisecond)))
				return vars{"in": vars{"token": w.expired.Token, "displayName": "Latecomer"}}
			},
			want: row(bad, bad, bad, bad, bad, bad, bad, bad, unauth)},
		{op: "redeemInvite(revoked)", query: `mutation($in: RedeemInviteInput!) { redeemInvite(input: $in) { token } }`,
			field: "redeemInvite",
			args: func(*testing.T, authzRole) vars {
				return vars{"in": vars{"token": w.revoked.Token, "displayName": "Latecomer"}}
			},
			want: row(bad, bad, bad, bad, bad, bad, bad, bad, unauth)},
		{op: "redeemInvite(usedUp)", query: `mutation($in: RedeemInviteInput!) { redeemInvite(input: $in) { token } }`,
			field: "redeemInvite",
			args: func(*testing.T, authzRole) vars {
				return vars{"in": vars{"token": w.usedUp.Token, "displayName": "Latecomer"}}
			},
			want: row(bad, bad, bad, bad, bad, bad, bad, bad, unauth)},
	}
}
