package schema

import (
	"context"

	"entgo.io/ent"
	"entgo.io/ent/dialect/sql"

	gen "github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/rule"
)

// Who may do what (see rule for how each check is made):
//
//   - OWNER: everything in the workspace, members and roles included.
//   - MAKER: prototypes and iterations, triage, invites.
//   - VIEWER: reads everything in the workspace; tries, gives feedback,
//     votes, comments.
//   - Tester (a guest, or a user who redeemed an invite), per prototype:
//     reads the prototype, its workspace's name and mission, its
//     published and retired iterations, all its feedback, comments, votes
//     and participants (names masked by the API unless feedback is open),
//     its timeline but for drafts, invites and alerts, and its own trials; acts
//     only as its own participant: starts and ends trials, leaves, edits
//     and retracts feedback, votes, and comments in its own feedback's
//     threads. No memberships, invites, other prototypes or workspaces.
//
// A caller who cannot see a row gets NOT_FOUND, as if it did not exist;
// one who can see it but may not change it gets FORBIDDEN.

// scoped is the policy of rows that live in a workspace: members whose
// role passes read see them, create may add them, change may update or
// delete them. A tester sees testerReads of them (nil: none), may make
// the changes testerWrites allow, and its bulk updates and deletes touch
// testerChanges (nil: none). Anonymous callers get nothing.
type scoped struct {
	read, create, change rule.RoleCheck
	remove               rule.RoleCheck // who may delete, if stricter than change
	testerReads          rule.Reach
	testerWrites         []privacy.MutationRule
	testerChanges        rule.Reach
}

func (s scoped) policy() ent.Policy {
	mutation := privacy.MutationPolicy{rule.DenyAnonymous()}
	mutation = append(mutation, s.testerWrites...)
	if s.remove != nil {
		mutation = append(mutation,
			privacy.OnMutationOperation(rule.FilterWorkspace(s.remove), ent.OpDelete|ent.OpDeleteOne))
	}
	mutation = append(mutation,
		rule.AllowCreateInWorkspace(s.create),
		rule.CheckRole(s.change),
		rule.Filter(s.change, s.testerChanges),
	)
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			rule.DenyAnonymous(),
			rule.Filter(s.read, s.testerReads),
		},
		Mutation: mutation,
	}
}

func (Workspace) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			rule.DenyAnonymous(),
			rule.Filter(rule.AnyMember, rule.TestedWorkspaces),
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
	return scoped{read: rule.AnyMember, create: rule.Owner, change: rule.Owner}.policy()
}

// Policy: makers shape prototypes; only owners delete one, with all its
// iterations, feedback and history.
func (Prototype) Policy() ent.Policy {
	return scoped{
		read: rule.AnyMember, create: rule.Editor, change: rule.Editor, remove: rule.Owner,
		testerReads: rule.TestedPrototypes("id"),
	}.policy()
}

// testerHiddenIterations are the iteration statuses testers do not see:
// a draft is the team's until it is published.
var testerHiddenIterations = []string{"DRAFT"}

func (Iteration) Policy() ent.Policy {
	return scoped{
		read: rule.AnyMember, create: rule.Editor, change: rule.Editor,
		testerReads: rule.TestedPrototypesExcept("status", testerHiddenIterations...),
	}.policy()
}

// Policy: participants are created for members on their first action,
// and for testers by redeeming an invite, which the server does as the
// system.
func (Participant) Policy() ent.Policy {
	return scoped{
		read: rule.AnyMember, create: rule.AnyMember, change: rule.Editor,
		testerReads: rule.TestedPrototypes("prototype_id"),
	}.policy()
}

func (Invite) Policy() ent.Policy {
	return scoped{read: rule.Editor, create: rule.Editor, change: rule.Editor}.policy()
}

// Policy: a tester sees and ends only its own trials; what someone else
// set out to do, and on what device, is theirs and the team's.
func (Trial) Policy() ent.Policy {
	return scoped{
		read: rule.AnyMember, create: rule.AnyMember, change: rule.AnyMember,
		testerReads: rule.OwnParticipant("participant_id"),
		testerWrites: []privacy.MutationRule{
			rule.AllowTesterCreate("participant_id"),
			rule.AllowTesterUpdate("participant_id"),
		},
	}.policy()
}

// Policy: testers see all feedback on their prototype, RETRACTED
// included (the status says so): they vote "me too" on it, and the
// comments, votes and timeline entries that refer to retracted feedback
// must still resolve. Its author edits it and gives the verdict on its
// fix, the team triages it.
func (Feedback) Policy() ent.Policy {
	return scoped{
		read: rule.AnyMember, create: rule.AnyMember, change: rule.Editor,
		testerReads: rule.TestedPrototypes("prototype_id"),
		testerWrites: []privacy.MutationRule{
			rule.AuthorVerifies(),
			rule.AuthorEdits(),
			rule.AllowTesterCreate("author_id"),
		},
	}.policy()
}

func (Comment) Policy() ent.Policy {
	return scoped{
		read: rule.AnyMember, create: rule.AnyMember, change: rule.AnyMember,
		testerReads:  rule.TestedPrototypes("prototype_id"),
		testerWrites: []privacy.MutationRule{rule.AllowTesterComment()},
	}.policy()
}

func (Vote) Policy() ent.Policy {
	return scoped{
		read: rule.AnyMember, create: rule.AnyMember, change: rule.AnyMember,
		testerReads:   rule.TestedPrototypes("prototype_id"),
		testerWrites:  []privacy.MutationRule{rule.AllowTesterCreate("participant_id")},
		testerChanges: rule.OwnParticipant("participant_id"),
	}.policy()
}

// Policy: testers see their prototype's timeline but for drafts (an
// iteration is created as a draft; ITERATION_PUBLISHED announces it) and
// invites, which are the team's business. ITERATION_UPDATED is hidden
// whatever the iteration's status: the event row does not say, and the
// rule stays one predicate on the row's own columns; a tester still reads
// a published iteration's current title and changelog. The changes to a
// workspace's webhooks are its owners' only, as the webhooks are. One
// rule, rule.FilterEvents, says all of that (rule.EventVisible for the
// broker).
//
// Events are written only by the outbox (graph/events.go), never through
// the API, and each records a change that passed its own policy in the
// same transaction, so writing one needs no check of its own: the outbox
// writes them as the caller, who may not be anyone yet (a guest redeeming
// an invite). They are never changed or deleted.
//
// On PostgreSQL an event is committed pending, with a negative seq, and
// numbered just after (graph/events.go): until then it is in no stream,
// and no query shows it.
func (Event) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			rule.DenyAnonymous(),
			numberedEvents(),
			rule.FilterEvents(),
		},
		Mutation: privacy.MutationPolicy{
			privacy.OnMutationOperation(privacy.AlwaysAllowRule(), ent.OpCreate),
			privacy.AlwaysDenyRule(),
		},
	}
}

// Policy: tokens are the caller's own to list and revoke; the server
// issues them as the system.
func (AuthToken) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			rule.DenyAnonymous(),
			rule.FilterOwnTokens(),
		},
		Mutation: privacy.MutationPolicy{
			rule.DenyAnonymous(),
			rule.LimitTokenChanges(),
			rule.FilterOwnTokens(),
		},
	}
}

// Policy: members see a prototype's alert rules; owners and makers set
// them. Their firing state is the server's to write (graph/alertrule.go).
func (AlertRule) Policy() ent.Policy {
	return scoped{read: rule.AnyMember, create: rule.Editor, change: rule.Editor}.policy()
}

// Policy: webhooks send the workspace's events elsewhere, and hold a
// signing secret: owners only.
func (Webhook) Policy() ent.Policy {
	return scoped{read: rule.Owner, create: rule.Owner, change: rule.Owner}.policy()
}

// Policy: deliveries are the owners' to see. The outbox queues them and
// the delivery worker updates them as the server, for whoever's change
// recorded the event.
func (WebhookDelivery) Policy() ent.Policy {
	return scoped{read: rule.Owner, create: rule.Owner, change: rule.Owner}.policy()
}

// numberedEvents hides the events not numbered yet (seq < 0).
//
// The 0 is written into the statement, not sent as a parameter: with
// "seq > $n" PostgreSQL cannot tell how many of a prototype's events the
// generic plan of the prepared statement would read, costs it above the
// plan for the values at hand, and so plans every execution anew (a
// timeline page's 0.1 ms of planning against 0.03 of execution); with
// "seq > 0" it keeps the generic plan, the same backward scan of
// (prototype_id, seq).
func numberedEvents() privacy.QueryRule {
	return privacy.EventQueryRuleFunc(func(_ context.Context, q *gen.EventQuery) error {
		q.Where(func(s *sql.Selector) { s.Where(sql.GT(s.C(event.FieldSeq), sql.Raw("0"))) })
		return privacy.Skip
	})
}
