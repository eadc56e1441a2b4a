package schema

import (
	"entgo.io/ent"

	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/rule"
)

// scopedPolicy is the policy of rows that live in a workspace: members
// whose role passes read see them, create may add them, change may update
// or delete them. Anonymous callers get nothing.
func scopedPolicy(read, create, change rule.RoleCheck) ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			rule.DenyAnonymous(),
			rule.FilterWorkspace(read),
		},
		Mutation: privacy.MutationPolicy{
			rule.DenyAnonymous(),
			rule.AllowCreateInWorkspace(create),
			rule.CheckRole(change),
			rule.FilterWorkspace(change),
		},
	}
}

// appendOnly denies updates and deletes: events are history.
func appendOnly(p ent.Policy) ent.Policy {
	pp := p.(privacy.Policy)
	pp.Mutation = append(privacy.MutationPolicy{
		privacy.OnMutationOperation(privacy.AlwaysDenyRule(),
			ent.OpUpdate|ent.OpUpdateOne|ent.OpDelete|ent.OpDeleteOne),
	}, pp.Mutation...)
	return pp
}

// systemOnly is the policy of credentials: only the server itself, acting
// under privacy.DecisionContext, reads or writes them.
func systemOnly() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{privacy.AlwaysDenyRule()},
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
	}
}

func (Workspace) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			rule.DenyAnonymous(),
			rule.FilterWorkspace(rule.AnyMember),
		},
		Mutation: privacy.MutationPolicy{
			rule.DenyAnonymous(),
			rule.AllowCreateWorkspace(),
			rule.CheckRole(rule.Owner),
			rule.FilterWorkspace(rule.Owner),
		},
	}
}

func (User) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			rule.DenyAnonymous(),
			rule.FilterUsers(),
		},
		Mutation: privacy.MutationPolicy{
			rule.AllowSelf(),
			privacy.AlwaysDenyRule(),
		},
	}
}

func (Membership) Policy() ent.Policy {
	return scopedPolicy(rule.AnyMember, rule.Owner, rule.Owner)
}

func (Prototype) Policy() ent.Policy {
	return scopedPolicy(rule.AnyMember, rule.Editor, rule.Editor)
}

func (Iteration) Policy() ent.Policy {
	return scopedPolicy(rule.AnyMember, rule.Editor, rule.Editor)
}

func (Participant) Policy() ent.Policy {
	return scopedPolicy(rule.AnyMember, rule.AnyMember, rule.Editor)
}

func (Invite) Policy() ent.Policy {
	return scopedPolicy(rule.Editor, rule.Editor, rule.Editor)
}

func (Trial) Policy() ent.Policy {
	return scopedPolicy(rule.AnyMember, rule.AnyMember, rule.AnyMember)
}

func (Feedback) Policy() ent.Policy {
	return scopedPolicy(rule.AnyMember, rule.AnyMember, rule.Editor)
}

func (Comment) Policy() ent.Policy {
	return scopedPolicy(rule.AnyMember, rule.AnyMember, rule.AnyMember)
}

func (Vote) Policy() ent.Policy {
	return scopedPolicy(rule.AnyMember, rule.AnyMember, rule.AnyMember)
}

func (Event) Policy() ent.Policy {
	return appendOnly(scopedPolicy(rule.AnyMember, rule.AnyMember, rule.AnyMember))
}

func (AuthToken) Policy() ent.Policy { return systemOnly() }
