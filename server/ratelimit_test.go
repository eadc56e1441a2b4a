package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/protoloop/protoloop/server"
	"github.com/protoloop/protoloop/server/servertest"
)

// The rate limits are tested with tiny limits, so that a handful of
// requests reach them, and a backoff of ten minutes, so that no test waits
// for one to pass.

// startLimited starts a server on b with the given rate limits.
func startLimited(t *testing.T, b servertest.Backend, limits server.RateLimits, proxies ...netip.Prefix) *servertest.Server {
	t.Helper()
	return servertest.StartWith(t, b, servertest.Options{Config: server.Config{RateLimits: &limits, TrustedProxies: proxies}})
}

// rawResponse is a GraphQL response with its HTTP status and headers.
type rawResponse struct {
	status int
	header http.Header
	Data   json.RawMessage
	Errors []struct {
		Message    string
		Extensions map[string]any
	}
}

func (r rawResponse) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// postGQL sends a GraphQL request with extra headers and returns the whole
// response.
func postGQL(t *testing.T, base, token, query string, vars map[string]any, header http.Header) rawResponse {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := rawResponse{status: resp.StatusCode, header: resp.Header}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("HTTP %d: not a GraphQL response: %v", resp.StatusCode, err)
	}
	return r
}

// requireRateLimited checks a refusal: RATE_LIMITED with retryAfter in
// the extensions, 429 and a matching Retry-After header; it returns the
// seconds to wait.
func requireRateLimited(t *testing.T, r rawResponse) int {
	t.Helper()
	if r.code() != "RATE_LIMITED" {
		t.Fatalf("HTTP %d, errors %+v: want RATE_LIMITED", r.status, r.Errors)
	}
	if r.status != http.StatusTooManyRequests {
		t.Errorf("HTTP %d, want 429", r.status)
	}
	retry, ok := r.Errors[0].Extensions["retryAfter"].(float64)
	if !ok || retry < 1 || retry != float64(int(retry)) {
		t.Errorf("extensions.retryAfter = %v, want whole seconds ≥ 1", r.Errors[0].Extensions["retryAfter"])
	}
	if h := r.header.Get("Retry-After"); h != strconv.Itoa(int(retry)) {
		t.Errorf("Retry-After: %q, want %d", h, int(retry))
	}
	return int(retry)
}

func requireGQLOK(t *testing.T, r rawResponse) {
	t.Helper()
	if len(r.Errors) > 0 || r.status != http.StatusOK {
		t.Fatalf("HTTP %d, errors %+v: want success", r.status, r.Errors)
	}
}

const (
	leaveFeedbackMutation = `mutation($in: LeaveFeedbackInput!) { leaveFeedback(input: $in) { id } }`
	redeemMutation        = `mutation($in: RedeemInviteInput!) { redeemInvite(input: $in) { token } }`
	logInMutation         = `mutation($in: LogInInput!) { logIn(input: $in) { token } }`
)

func feedbackInput(iterationID, body string) map[string]any {
	return map[string]any{"in": map[string]any{"iterationID": iterationID, "kind": "IDEA", "body": body}}
}

// inviteToken creates an invite to the loop's prototype and returns its
// token.
func inviteToken(t *testing.T, s *servertest.Server, loop servertest.Loop) string {
	t.Helper()
	r := s.Do(t, loop.Owner.Token, `mutation($in: CreateInviteInput!) { createInvite(input: $in) { token } }`,
		map[string]any{"in": map[string]any{"prototypeID": loop.Prototype.ID}}).RequireOK(t)
	var out struct{ CreateInvite struct{ Token string } }
	r.Decode(t, &out)
	return out.CreateInvite.Token
}

func redeemInput(invite, name string) map[string]any {
	return map[string]any{"in": map[string]any{"token": invite, "displayName": name}}
}

// redeemAsGuest redeems an invite as a new guest and returns the guest's token.
func redeemAsGuest(t *testing.T, base, invite, name string) string {
	t.Helper()
	r := postGQL(t, base, "", redeemMutation, redeemInput(invite, name), nil)
	requireGQLOK(t, r)
	var out struct{ RedeemInvite struct{ Token string } }
	if err := json.Unmarshal(r.Data, &out); err != nil {
		t.Fatal(err)
	}
	return out.RedeemInvite.Token
}

// countFeedback counts the feedback on the loop's iteration, as its owner
// sees it.
func countFeedback(t *testing.T, s *servertest.Server, loop servertest.Loop) int {
	t.Helper()
	var out struct {
		Node struct{ Feedback struct{ TotalCount int } }
	}
	s.Do(t, loop.Owner.Token, `query($id: ID!) { node(id: $id) { ... on Iteration { feedback { totalCount } } } }`,
		map[string]any{"id": loop.Iteration.ID}).RequireOK(t).Decode(t, &out)
	return out.Node.Feedback.TotalCount
}

func TestFeedbackIsRateLimitedPerToken(t *testing.T) {
	for _, b := range servertest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			s := startLimited(t, b, server.RateLimits{Feedback: 3})
			loop := s.NewLoop(t)
			member := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "VIEWER")

			for i := range 3 {
				requireGQLOK(t, postGQL(t, s.URL, member.Token, leaveFeedbackMutation, feedbackInput(loop.Iteration.ID, fmt.Sprint("idea ", i)), nil))
			}
			start := time.Now()
			r := postGQL(t, s.URL, member.Token, leaveFeedbackMutation, feedbackInput(loop.Iteration.ID, "one too many"), nil)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("refusal took %v", took)
			}
			// A bucket of 3 a minute refills one every 20 seconds.
			if retry := requireRateLimited(t, r); retry > 20 {
				t.Errorf("retryAfter %d, want at most 20", retry)
			}
			if n := countFeedback(t, s, loop); n != 3 {
				t.Errorf("%d feedback after the refusal, want 3: a refused mutation must change nothing", n)
			}
			// Votes and comments draw on the same bucket.
			r = postGQL(t, s.URL, member.Token, `mutation { addComment(input: {feedbackID: "x", body: "me too"}) { id } }`, nil, nil)
			requireRateLimited(t, r)

			// Another caller has a bucket of their own; reading is not limited.
			requireGQLOK(t, postGQL(t, s.URL, loop.Owner.Token, leaveFeedbackMutation, feedbackInput(loop.Iteration.ID, "the owner's"), nil))
			for range 5 {
				requireGQLOK(t, postGQL(t, s.URL, member.Token, `{ viewer { id } }`, nil, nil))
			}
		})
	}
}

func TestAliasesCountOneEach(t *testing.T) {
	s := startLimited(t, servertest.SQLite, server.RateLimits{Feedback: 3})
	loop := s.NewLoop(t)
	r := postGQL(t, s.URL, loop.Owner.Token, `mutation($it: ID!) {
		a: leaveFeedback(input: {iterationID: $it, kind: IDEA, body: "a"}) { id }
		b: leaveFeedback(input: {iterationID: $it, kind: IDEA, body: "b"}) { id }
		c: leaveFeedback(input: {iterationID: $it, kind: IDEA, body: "c"}) { id }
		d: leaveFeedback(input: {iterationID: $it, kind: IDEA, body: "d"}) { id }
	}`, map[string]any{"it": loop.Iteration.ID}, nil)
	requireRateLimited(t, r)
	if n := countFeedback(t, s, loop); n != 0 {
		t.Errorf("%d feedback, want none: the refused mutation must do nothing", n)
	}
	// It spent nothing either: the three it could have paid for pass.
	for i := range 3 {
		requireGQLOK(t, postGQL(t, s.URL, loop.Owner.Token, leaveFeedbackMutation, feedbackInput(loop.Iteration.ID, fmt.Sprint("idea ", i)), nil))
	}
}

// A mutation refused by one limit spends nothing from the others: the
// fields before the one refused do not take their share.
func TestARefusedMutationSpendsNoLimit(t *testing.T) {
	s := startLimited(t, servertest.SQLite, server.RateLimits{Feedback: 2, LogIn: 2})
	loop := s.NewLoop(t) // signs the owner up: one logIn spent
	in := map[string]any{"email": loop.Owner.Email, "password": servertest.Password}
	const both = `mutation($it: ID!, $in: LogInInput!) {
		a: leaveFeedback(input: {iterationID: $it, kind: IDEA, body: "a"}) { id }
		b: logIn(input: $in) { token }
		c: logIn(input: $in) { token }
	}`
	// Feedback has room for a, logIn has room for one of b and c.
	requireRateLimited(t, postGQL(t, s.URL, loop.Owner.Token, both, map[string]any{"it": loop.Iteration.ID, "in": in}, nil))
	if n := countFeedback(t, s, loop); n != 0 {
		t.Errorf("%d feedback, want none: the refused mutation must do nothing", n)
	}
	for _, alias := range []string{"x", "y"} {
		q := `mutation($it: ID!) { ` + alias + `: leaveFeedback(input: {iterationID: $it, kind: IDEA, body: "` + alias + `"}) { id } }`
		requireGQLOK(t, postGQL(t, s.URL, loop.Owner.Token, q, map[string]any{"it": loop.Iteration.ID}, nil))
	}
	requireGQLOK(t, postGQL(t, s.URL, "", logInMutation, map[string]any{"in": in}, nil))
	requireRateLimited(t, postGQL(t, s.URL, "", logInMutation, map[string]any{"in": in}, nil))
}

func TestGuestsAreRateLimitedPerIP(t *testing.T) {
	s := startLimited(t, servertest.SQLite, server.RateLimits{Feedback: 100, GuestFeedbackPerIP: 2})
	loop := s.NewLoop(t)
	invite := inviteToken(t, s, loop)
	ann, bo := redeemAsGuest(t, s.URL, invite, "Ann"), redeemAsGuest(t, s.URL, invite, "Bo")

	requireGQLOK(t, postGQL(t, s.URL, ann, leaveFeedbackMutation, feedbackInput(loop.Iteration.ID, "Ann's"), nil))
	requireGQLOK(t, postGQL(t, s.URL, bo, leaveFeedbackMutation, feedbackInput(loop.Iteration.ID, "Bo's"), nil))
	// A third guest token from the same address is no way around it.
	requireRateLimited(t, postGQL(t, s.URL, ann, leaveFeedbackMutation, feedbackInput(loop.Iteration.ID, "Ann's second"), nil))
	// Signed-in members are limited per token only.
	requireGQLOK(t, postGQL(t, s.URL, loop.Owner.Token, leaveFeedbackMutation, feedbackInput(loop.Iteration.ID, "the owner's"), nil))
}

func TestInviteRedemptionIsRateLimitedPerIP(t *testing.T) {
	s := startLimited(t, servertest.SQLite, server.RateLimits{Redeem: 2})
	loop := s.NewLoop(t)
	invite := inviteToken(t, s, loop)
	redeemAsGuest(t, s.URL, invite, "Ann")
	redeemAsGuest(t, s.URL, invite, "Bo")
	requireRateLimited(t, postGQL(t, s.URL, "", redeemMutation, redeemInput(invite, "Cy"), nil))
	// Guessing invite tokens is limited just the same.
	requireRateLimited(t, postGQL(t, s.URL, "", redeemMutation, redeemInput("inv_guess", "Cy"), nil))
}

func TestForwardedForIsBelievedOnlyFromTrustedProxies(t *testing.T) {
	loopback := netip.MustParsePrefix("127.0.0.1/32")
	for _, tc := range []struct {
		name    string
		proxies []netip.Prefix
		// whether a second client behind the proxy gets a bucket of its own
		separate bool
	}{
		{"behind a trusted proxy each client has its own limit", []netip.Prefix{loopback}, true},
		{"without trusted proxies X-Forwarded-For is ignored", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startLimited(t, servertest.SQLite, server.RateLimits{Redeem: 1}, tc.proxies...)
			loop := s.NewLoop(t)
			invite := inviteToken(t, s, loop)
			from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }

			requireGQLOK(t, postGQL(t, s.URL, "", redeemMutation, redeemInput(invite, "Ann"), from("203.0.113.1")))
			r := postGQL(t, s.URL, "", redeemMutation, redeemInput(invite, "Bo"), from("198.51.100.7, 203.0.113.2"))
			if tc.separate {
				requireGQLOK(t, r)
				requireRateLimited(t, postGQL(t, s.URL, "", redeemMutation, redeemInput(invite, "Cy"), from("203.0.113.1")))
			} else {
				requireRateLimited(t, r)
			}
		})
	}
}

func TestLogInIsRateLimitedPerIP(t *testing.T) {
	s := startLimited(t, servertest.SQLite, server.RateLimits{LogIn: 3})
	u := s.NewUser(t, "Olive") // signUp counts too
	in := map[string]any{"in": map[string]any{"email": u.Email, "password": servertest.Password}}
	requireGQLOK(t, postGQL(t, s.URL, "", logInMutation, in, nil))
	requireGQLOK(t, postGQL(t, s.URL, "", logInMutation, in, nil))
	requireRateLimited(t, postGQL(t, s.URL, "", logInMutation, in, nil))
}

func TestFailedLogInsBackOff(t *testing.T) {
	for _, b := range servertest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			s := startLimited(t, b, server.RateLimits{LogInBackoff: 10 * time.Minute, LogInFreeFailures: 2})
			olive, pat := s.NewUser(t, "Olive"), s.NewUser(t, "Pat")
			logIn := func(email, password string) rawResponse {
				return postGQL(t, s.URL, "", logInMutation, map[string]any{"in": map[string]any{"email": email, "password": password}}, nil)
			}
			wrong := func(email string) {
				t.Helper()
				if r := logIn(email, "not the password"); r.code() != "UNAUTHENTICATED" {
					t.Fatalf("wrong password: HTTP %d, %+v, want UNAUTHENTICATED", r.status, r.Errors)
				}
			}

			// A success clears the count: one failure, a success, two more
			// failures are still free.
			wrong(olive.Email)
			requireGQLOK(t, logIn(olive.Email, servertest.Password))
			wrong(olive.Email)
			wrong(olive.Email)
			// The third failure in a row starts the backoff ...
			wrong(olive.Email)
			r := logIn(olive.Email, servertest.Password)
			if retry := requireRateLimited(t, r); retry < 500 || retry > 600 {
				t.Errorf("retryAfter %d, want the first backoff, ten minutes", retry)
			}
			// ... for that email, however it is spelt, even with the right
			// password, which is not even checked.
			requireRateLimited(t, logIn("  "+strings.ToUpper(olive.Email), servertest.Password))
			// Another account from the same address is not held off: an
			// address gets four times the failures of an email.
			requireGQLOK(t, logIn(pat.Email, servertest.Password))
			// Olive's four failures and four more make the address's eight
			// free ones; the ninth starts its backoff, for every email.
			for i := range 5 {
				wrong(fmt.Sprintf("nobody%d@example.test", i))
			}
			requireRateLimited(t, logIn(pat.Email, servertest.Password))
		})
	}
}

func TestRateLimitsApplyOverWebsockets(t *testing.T) {
	s := startLimited(t, servertest.SQLite, server.RateLimits{Feedback: 1})
	loop := s.NewLoop(t)
	c := dial(t, s.URL, transportWS, nil)
	c.init(map[string]any{"token": loop.Owner.Token})
	var codes []string
	var retry any
	for i := range 2 {
		id := fmt.Sprint(i)
		c.subscribe(id, leaveFeedbackMutation, feedbackInput(loop.Iteration.ID, "over a socket "+id))
		for {
			m := c.next()
			if m.ID != id || m.Type == "complete" {
				break
			}
			var p struct {
				Errors []struct{ Extensions map[string]any }
			}
			_ = json.Unmarshal(m.Payload, &p)
			code := "ok"
			if len(p.Errors) > 0 {
				code, _ = p.Errors[0].Extensions["code"].(string)
				retry = p.Errors[0].Extensions["retryAfter"]
			}
			codes = append(codes, code)
		}
	}
	if fmt.Sprint(codes) != "[ok RATE_LIMITED]" {
		t.Fatalf("results %v, want [ok RATE_LIMITED]", codes)
	}
	if n, ok := retry.(float64); !ok || n < 1 {
		t.Errorf("retryAfter %v, want whole seconds ≥ 1", retry)
	}
}
