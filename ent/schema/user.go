package schema

import (
	"context"
	"fmt"
	"net/mail"
	"strings"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"github.com/protoloop/protoloop/ent/schema/gid"
)

// User is a person with an account.
type User struct{ ent.Schema }

func (User) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{typ: gid.User}, timeMixin{}}
}

func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").
			Unique().
			MaxLen(254).
			Validate(validateEmail).
			// Resolved in graph (user.graphqls): only the user and people who
			// share a workspace with them see it; testers see names only.
			Annotations(entgql.Skip(entgql.SkipType, entgql.SkipWhereInput)).
			Comment("Stored lowercased, so uniqueness is case-insensitive."),
		field.String("name").
			NotEmpty().
			MaxRuneLen(maxName),
		field.String("password_hash").
			Sensitive().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("memberships", Membership.Type).
			Ref("user").
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
	}
}

func (User) Hooks() []ent.Hook {
	return []ent.Hook{normalizeEmail}
}

func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput), entgql.Implements("Actor")}
}

// NormalizeEmail is the one spelling of an address protoloop stores and
// compares: trimmed and lowercased.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

func validateEmail(email string) error {
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || !strings.Contains(email, "@") {
		return fmt.Errorf("%q is not an email address", email)
	}
	return nil
}

// normalizeEmail lowercases emails before validation, on every path that
// writes one (sign-up, seeding, admin commands).
func normalizeEmail(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		if v, ok := m.Field("email"); ok {
			if s, ok := v.(string); ok {
				if err := m.SetField("email", NormalizeEmail(s)); err != nil {
					return nil, err
				}
			}
		}
		return next.Mutate(ctx, m)
	})
}
