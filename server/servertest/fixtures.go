package servertest

import (
	"fmt"
	"maps"
	"testing"
)

// The fixture helpers below seed data through the API, exactly as a
// frontend would, so every fixture also exercises the mutation it uses and
// its authorization. Each fails the test if its mutation fails. Names,
// emails and slugs are made unique within the server.
//
// They compose: NewLoop is NewUser, NewWorkspace, NewPrototype and
// NewPublishedIteration in a row; write a test's own setup the same way.

// Password is the password of every user the fixtures sign up.
const Password = "correct horse battery staple"

// User is a signed-up user and a bearer token of theirs.
type User struct {
	ID    string
	Email string
	Name  string
	Token string
}

// Workspace is a workspace the fixtures created.
type Workspace struct {
	ID   string
	Slug string
	Name string
}

// Prototype is a prototype the fixtures created.
type Prototype struct {
	ID          string
	Slug        string
	Title       string
	WorkspaceID string
}

// Iteration is an iteration the fixtures created; Number is 0 for a draft.
type Iteration struct {
	ID          string
	PrototypeID string
	Number      int
}

// Loop is the smallest world feedback can be left in: an owner, their
// workspace, a prototype in it and its published iteration 1.
type Loop struct {
	Owner     User
	Workspace Workspace
	Prototype Prototype
	Iteration Iteration
}

// call sends a request that must succeed and decodes its data into out.
func (s *Server) call(t testing.TB, token, query string, vars map[string]any, out any) {
	t.Helper()
	s.Do(t, token, query, vars).RequireOK(t).Decode(t, out)
}

// NewUser signs up a new user called name, with a unique email and
// Password, and returns them with the token signUp issued.
func (s *Server) NewUser(t testing.TB, name string) User {
	t.Helper()
	email := fmt.Sprintf("user%d@example.test", s.next())
	var out struct {
		SignUp struct {
			Token string
			User  struct{ ID, Email, Name string }
		}
	}
	s.call(t, "", `mutation($in: SignUpInput!) {
		signUp(input: $in) { token user { id email name } }
	}`, map[string]any{"in": map[string]any{"email": email, "name": name, "password": Password}}, &out)
	u := out.SignUp.User
	return User{ID: u.ID, Email: u.Email, Name: u.Name, Token: out.SignUp.Token}
}

// NewWorkspace creates a workspace owned by the holder of ownerToken.
func (s *Server) NewWorkspace(t testing.TB, ownerToken string) Workspace {
	t.Helper()
	n := s.next()
	var out struct{ CreateWorkspace Workspace }
	s.call(t, ownerToken, `mutation($in: CreateWorkspaceInput!) {
		createWorkspace(input: $in) { id slug name }
	}`, map[string]any{"in": map[string]any{
		"name": fmt.Sprintf("Workspace %d", n),
		"slug": fmt.Sprintf("ws-%d", n),
	}}, &out)
	return out.CreateWorkspace
}

// AddMember adds the user with email to a workspace with role (OWNER,
// MAKER or VIEWER) and returns the membership's ID. ownerToken must be an
// owner's.
func (s *Server) AddMember(t testing.TB, ownerToken, workspaceID, email, role string) string {
	t.Helper()
	var out struct{ AddMember struct{ ID string } }
	s.call(t, ownerToken, `mutation($in: AddMemberInput!) {
		addMember(input: $in) { id }
	}`, map[string]any{"in": map[string]any{"workspaceID": workspaceID, "email": email, "role": role}}, &out)
	return out.AddMember.ID
}

// NewMember signs up a new user and adds them to a workspace with role.
func (s *Server) NewMember(t testing.TB, ownerToken, workspaceID, role string) User {
	t.Helper()
	u := s.NewUser(t, fmt.Sprintf("%s %d", role, s.next()))
	s.AddMember(t, ownerToken, workspaceID, u.Email, role)
	return u
}

// NewPrototype creates a DRAFT prototype in a workspace.
func (s *Server) NewPrototype(t testing.TB, token, workspaceID string) Prototype {
	t.Helper()
	n := s.next()
	var out struct {
		CreatePrototype struct {
			ID, Slug, Title string
			Workspace       struct{ ID string }
		}
	}
	s.call(t, token, `mutation($in: CreatePrototypeInput!) {
		createPrototype(input: $in) { id slug title workspace { id } }
	}`, map[string]any{"in": map[string]any{
		"workspaceID": workspaceID,
		"title":       fmt.Sprintf("Prototype %d", n),
		"slug":        fmt.Sprintf("proto-%d", n),
		"problem":     "Volunteers retype the same form three times.",
		"missionLink": "Time saved is time spent with the people we serve.",
	}}, &out)
	p := out.CreatePrototype
	return Prototype{ID: p.ID, Slug: p.Slug, Title: p.Title, WorkspaceID: p.Workspace.ID}
}

// NewIteration drafts an iteration of a prototype.
func (s *Server) NewIteration(t testing.TB, token, prototypeID string) Iteration {
	t.Helper()
	var out struct{ CreateIteration struct{ ID string } }
	s.call(t, token, `mutation($p: ID!, $in: CreateIterationInput!) {
		createIteration(prototypeID: $p, input: $in) { id }
	}`, map[string]any{"p": prototypeID, "in": map[string]any{
		"title":     fmt.Sprintf("Iteration %d", s.next()),
		"changelog": "Fewer fields.",
		"url":       "https://example.test/try",
	}}, &out)
	return Iteration{ID: out.CreateIteration.ID, PrototypeID: prototypeID}
}

// Publish publishes a draft iteration and returns the number it got.
func (s *Server) Publish(t testing.TB, token, iterationID string) int {
	t.Helper()
	var out struct{ PublishIteration struct{ Number int } }
	s.call(t, token, `mutation($id: ID!) { publishIteration(id: $id) { number } }`,
		map[string]any{"id": iterationID}, &out)
	return out.PublishIteration.Number
}

// NewPublishedIteration drafts an iteration of a prototype and publishes it.
func (s *Server) NewPublishedIteration(t testing.TB, token, prototypeID string) Iteration {
	t.Helper()
	it := s.NewIteration(t, token, prototypeID)
	it.Number = s.Publish(t, token, it.ID)
	return it
}

// StartTrial starts a trial of a published iteration and returns its ID.
func (s *Server) StartTrial(t testing.TB, token, iterationID string) string {
	t.Helper()
	var out struct{ StartTrial struct{ ID string } }
	s.call(t, token, `mutation($in: StartTrialInput!) { startTrial(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"iterationID": iterationID, "task": "Sign up a volunteer"}}, &out)
	return out.StartTrial.ID
}

// LeaveFeedback leaves feedback on a published iteration and returns its
// ID. It is an IDEA with a short body unless fields (LeaveFeedbackInput's
// fields: kind, body, rating…) say otherwise.
func (s *Server) LeaveFeedback(t testing.TB, token, iterationID string, fields map[string]any) string {
	t.Helper()
	in := map[string]any{
		"iterationID": iterationID,
		"kind":        "IDEA",
		"body":        fmt.Sprintf("Feedback %d: the second step could be skipped.", s.next()),
	}
	maps.Copy(in, fields)
	var out struct{ LeaveFeedback struct{ ID string } }
	s.call(t, token, `mutation($in: LeaveFeedbackInput!) { leaveFeedback(input: $in) { id } }`,
		map[string]any{"in": in}, &out)
	return out.LeaveFeedback.ID
}

// AddComment comments on feedback, as a reply to parentID unless it is
// "", and returns the comment's ID.
func (s *Server) AddComment(t testing.TB, token, feedbackID, parentID string) string {
	t.Helper()
	in := map[string]any{"feedbackID": feedbackID, "body": fmt.Sprintf("Comment %d: same here.", s.next())}
	if parentID != "" {
		in["parentID"] = parentID
	}
	var out struct{ AddComment struct{ ID string } }
	s.call(t, token, `mutation($in: AddCommentInput!) { addComment(input: $in) { id } }`,
		map[string]any{"in": in}, &out)
	return out.AddComment.ID
}

// NewLoop creates a new owner with a workspace, a prototype in it and the
// prototype's published iteration 1.
func (s *Server) NewLoop(t testing.TB) Loop {
	t.Helper()
	owner := s.NewUser(t, fmt.Sprintf("Owner %d", s.next()))
	ws := s.NewWorkspace(t, owner.Token)
	p := s.NewPrototype(t, owner.Token, ws.ID)
	it := s.NewPublishedIteration(t, owner.Token, p.ID)
	return Loop{Owner: owner, Workspace: ws, Prototype: p, Iteration: it}
}
