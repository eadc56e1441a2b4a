package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/protoloop/protoloop/ent/schema/gid"
)

// Event is an append-only timeline entry, written in the same transaction
// as the change it records (a transactional outbox). Its seq is the
// stream position: events are numbered in commit order, so a reader that
// has seen seq n has seen every event that will ever have a smaller one.
type Event struct{ ent.Schema }

// EventKinds are the kinds of change the timeline records.
var EventKinds = []string{
	"WORKSPACE_CREATED",
	"WORKSPACE_UPDATED",
	"MEMBER_ADDED",
	"MEMBER_ROLE_CHANGED",
	"MEMBER_REMOVED",
	"PROTOTYPE_CREATED",
	"PROTOTYPE_UPDATED",
	"PROTOTYPE_STATUS_CHANGED",
	"PROTOTYPE_DELETED",
	"ITERATION_CREATED",
	"ITERATION_UPDATED",
	"ITERATION_PUBLISHED",
	"ITERATION_RETIRED",
	"INVITE_CREATED",
	"INVITE_REVOKED",
	"TESTER_JOINED",
	"TRIAL_STARTED",
	"TRIAL_ENDED",
	"FEEDBACK_ADDED",
	"FEEDBACK_EDITED",
	"FEEDBACK_RETRACTED",
	"FEEDBACK_STATUS_CHANGED",
	"FEEDBACK_ADDRESSED",
	"FEEDBACK_MERGED",
	"COMMENT_ADDED",
	"VOTE_ADDED",
	"VOTE_REMOVED",
	// An iteration that addresses feedback is out: its author is asked to
	// check the fix. Then the author's answer (verifyFix).
	"VERIFICATION_REQUESTED",
	"FEEDBACK_VERIFIED",
	// A threshold of an alert rule was crossed (see AlertRule).
	"ALERT",
	// A webhook was created, changed (its secret rotated, say) or
	// deleted. Owners only see these, as only they see webhooks
	// (rule.FilterEvents).
	"WEBHOOK_CREATED",
	"WEBHOOK_UPDATED",
	"WEBHOOK_DELETED",
}

func (Event) Mixin() []ent.Mixin {
	// (workspace_id, seq) serves lookups by workspace: each event write,
	// its insert and its numbering, keeps one index fewer up to date.
	return []ent.Mixin{idMixin{typ: gid.Event}, workspaceMixin{covered: true}}
}

func (Event) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("seq").
			Unique().
			Immutable().
			Annotations(entgql.OrderField("SEQ")).
			Comment("Position in the event stream, assigned in commit order."),
		field.Int64("prototype_id").
			GoType(gid.ID(0)).
			Optional().
			Nillable().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("kind").
			Values(EventKinds...).
			Immutable(),
		field.Int64("actor_user_id").
			GoType(gid.ID(0)).
			Optional().
			Nillable().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int64("actor_participant_id").
			GoType(gid.ID(0)).
			Optional().
			Nillable().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int64("subject_id").
			GoType(gid.ID(0)).
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("The changed object; its type is part of the ID."),
		field.Time("occurred_at").
			Default(time.Now).
			Immutable().
			Annotations(entgql.OrderField("OCCURRED_AT")),
		field.JSON("payload", map[string]any{}).
			Optional().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("A few facts about the change (old and new status, say)."),
	}
}

func (Event) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("prototype", Prototype.Type).
			Ref("timeline").
			Field("prototype_id").
			Unique().
			Immutable(),
		edge.To("actor_user", User.Type).
			Field("actor_user_id").
			Unique().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("actor_participant", Participant.Type).
			Field("actor_participant_id").
			Unique().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (Event) Indexes() []ent.Index {
	// Every index here serves a foreign key as well as its readers: the
	// deletion of a prototype (cascading to its events and participants),
	// a participant, a user or a workspace looks the events up by it, with
	// a plan made without knowing the value. So none has WHERE seq > 0:
	// that would leave out the pending events (negative seq until they are
	// numbered), which such a lookup must find too, and then could only find
	// by scanning the table. An event has at most one actor, a user or a
	// participant: each actor index leaves out the rows without its actor,
	// which a lookup by a value (col = $1) never asks for, so each event
	// write keeps one index fewer up to date (docs/performance.md, "Partial
	// indexes").
	return []ent.Index{
		index.Fields("prototype_id", "seq"),
		index.Fields("workspace_id", "seq"),
		index.Fields("actor_user_id").
			Annotations(entsql.IndexWhere("actor_user_id IS NOT NULL")),
		index.Fields("actor_participant_id").
			Annotations(entsql.IndexWhere("actor_participant_id IS NOT NULL")),
	}
}

func (Event) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		// schema/event.graphqls's fields: a timeline page that shows no
		// payload neither reads nor decodes it (graph/event.go).
		ResolverColumns{
			"cursor":  {"seq"},
			"actor":   {"actor_user_id", "actor_participant_id"},
			"subject": {"subject_id"},
			"payload": {"payload"},
		},
		// A timeline's actors' names are read with its page (joins.ActorNames).
		ResolverJoins{"actor": "ActorNames"},
	}
}
