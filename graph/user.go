package graph

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/membership"
	"github.com/protoloop/protoloop/ent/schema"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/rule"
	"github.com/protoloop/protoloop/ent/schema/viewer"
	"github.com/protoloop/protoloop/ent/user"
)

// errWrongLogin is all logIn says about a failure, so that it does not
// tell which emails have accounts.
var errWrongLogin = &Error{Code: CodeUnauthenticated, Message: "email or password is wrong"}

// signedIn returns the caller's identity, or the error privacy gives
// anonymous callers, for resolvers that need the user's ID to build a row
// (an owner, a membership) before ent's policies see it.
func signedIn(ctx context.Context) (*viewer.Identity, error) {
	id := viewer.FromContext(ctx)
	if id == nil {
		return nil, rule.ErrUnauthenticated
	}
	return id, nil
}

// checkSignUp validates a sign-up before its password is hashed: the hash
// costs 19 MiB and two passes, and a request that is bound to fail should
// not get to spend them.
func checkSignUp(email, name, password string) error {
	if err := user.EmailValidator(email); err != nil {
		return badInput("email", "email: %v", err)
	}
	if err := user.NameValidator(name); err != nil {
		return badInput("name", "name: %v", err)
	}
	if utf8.RuneCountInString(password) < minPassword {
		return badInput("password", "password must be at least %d characters", minPassword)
	}
	if len(password) > maxPassword {
		return badInput("password", "password must be at most %d bytes", maxPassword)
	}
	return nil
}

// signUp creates an account and signs it in.
func signUp(ctx context.Context, client *ent.Client, input SignUpInput) (*AuthPayload, error) {
	email := schema.NormalizeEmail(input.Email)
	name := strings.TrimSpace(input.Name)
	if err := checkSignUp(email, name, input.Password); err != nil {
		return nil, err
	}
	hash, err := hashPassword(input.Password)
	if err != nil {
		return nil, fmt.Errorf("sign up: %w", err)
	}
	u, err := client.User.Create().
		SetEmail(email).
		SetName(name).
		SetPasswordHash(hash).
		Save(system(ctx)) // nobody is signed in yet to be allowed to
	switch {
	case ent.IsConstraintError(err):
		return nil, conflict("an account with this email already exists")
	case err != nil:
		return nil, fmt.Errorf("sign up: %w", err)
	}
	return authPayload(ctx, client, u.ID)
}

// logIn signs in an existing account.
func logIn(ctx context.Context, client *ent.Client, input LogInInput) (*AuthPayload, error) {
	if len(input.Password) > maxPassword {
		return nil, errWrongLogin
	}
	u, err := client.User.Query().
		Where(user.Email(schema.NormalizeEmail(input.Email))).
		Only(system(ctx)) // the caller is anonymous until the password checks out
	switch {
	case ent.IsNotFound(err):
		checkPassword(dummyHash(), input.Password)
		return nil, errWrongLogin
	case err != nil:
		return nil, fmt.Errorf("log in: %w", err)
	}
	if !checkPassword(u.PasswordHash, input.Password) {
		return nil, errWrongLogin
	}
	return authPayload(ctx, client, u.ID)
}

// authPayload issues a token for a user who has just proven who they are,
// and loads the user as the payload shows it.
//
// The request that signs in is anonymous, and gqlgen resolves the fields
// under AuthPayload.user with the request's context, not with one a
// resolver could return. So whatever the operation selected there is
// eager-loaded here, as the new identity: edges read later would be read
// by nobody and denied. Fields with their own resolvers that ask who the
// viewer is (Workspace.viewerRole) still see the anonymous request; a
// client reads those with the token, in its next request.
func authPayload(ctx context.Context, client *ent.Client, userID gid.ID) (*AuthPayload, error) {
	token, err := issueToken(ctx, client, userID)
	if err != nil {
		return nil, err
	}
	id, err := Authenticate(ctx, client, token)
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	ctx = viewer.NewContext(ctx, id)
	q := client.User.Query().Where(user.ID(userID))
	for _, field := range childFields(ctx, "user", authPayloadImplementors...) {
		if q, err = q.CollectFields(field, userImplementors...); err != nil {
			return nil, fmt.Errorf("sign in: %w", err)
		}
	}
	u, err := q.Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("sign in: load user: %w", err)
	}
	return &AuthPayload{Token: token, User: u}, nil
}

// childFields returns, for each selection of the current field's child
// called name (one per alias), a context in which that child is the
// current field, so that a resolver can collect and eager-load what the
// operation asks of an object it returns inside another one. satisfies
// lists the types the current field's value implements.
func childFields(ctx context.Context, name string, satisfies ...string) []context.Context {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return nil
	}
	var children []context.Context
	for _, f := range graphql.CollectFields(graphql.GetOperationContext(ctx), fc.Field.Selections, satisfies) {
		if f.Name == name {
			children = append(children, graphql.WithFieldContext(ctx, &graphql.FieldContext{Field: f}))
		}
	}
	return children
}

// viewerUser returns the signed-in user, or nil for an anonymous caller.
func viewerUser(ctx context.Context, client *ent.Client) (*ent.User, error) {
	id := viewer.FromContext(ctx)
	if id == nil {
		return nil, nil
	}
	q, err := client.User.Query().Where(user.ID(id.UserID)).CollectFields(ctx, userImplementors...)
	if err != nil {
		return nil, fmt.Errorf("viewer: %w", err)
	}
	u, err := q.Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, nil // the account went away while the token was still valid
	case err != nil:
		return nil, fmt.Errorf("viewer: %w", err)
	}
	return u, nil
}

// userEmail shows a user's address to the user and to members of the
// workspaces they share; a tester reads the prototype owner's name only.
//
// An anonymous request holds a user only in its own signUp or logIn
// payload (privacy lets it read no other), so it sees the address. A
// caller who only takes part as a member sees only users who share a
// workspace with it; only a caller who also tests needs the check.
func userEmail(ctx context.Context, client *ent.Client, u *ent.User) (*string, error) {
	id := viewer.FromContext(ctx)
	if id == nil || id.UserID == u.ID || len(id.Testing()) == 0 {
		return &u.Email, nil
	}
	shared, err := client.Membership.Query().
		Where(membership.UserID(u.ID), membership.WorkspaceIDIn(id.Workspaces(rule.AnyMember)...)).
		Exist(ctx)
	if err != nil {
		return nil, fmt.Errorf("email of %s: %w", u.ID, err)
	}
	if !shared {
		return nil, nil
	}
	return &u.Email, nil
}
