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

// Webhook is a URL a workspace's events of chosen kinds are POSTed to,
// signed with the webhook's secret. Deliveries are queued in the
// transaction that records the event (see WebhookDelivery).
type Webhook struct{ ent.Schema }

func (Webhook) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{typ: gid.Webhook}, timeMixin{}, workspaceMixin{}}
}

func (Webhook) Fields() []ent.Field {
	noInput := entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)
	return []ent.Field{
		field.String("url").
			NotEmpty().
			MaxLen(2048).
			Validate(validateURL),
		// HMAC signing needs the secret itself, so it is stored, unlike
		// tokens; the API shows it only once, when the webhook is made or
		// its secret rotated (rotateWebhookSecret, the one change to it).
		field.String("secret").
			NotEmpty().
			Sensitive().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Strings("event_kinds").
			Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("The event kinds delivered; the API shows them as eventKinds."),
		field.String("description").
			Default("").
			MaxRuneLen(maxName),
		field.Bool("enabled").
			Default(true),
		field.Int("failure_count").
			Default(0).
			NonNegative().
			Annotations(noInput).
			Comment("Failed attempts since the last success; reaching the server's limit disables the webhook."),
		field.Text("last_error").
			Optional().
			Nillable().
			Annotations(noInput),
		field.Time("last_error_at").
			Optional().
			Nillable().
			Annotations(noInput),
		field.Time("last_success_at").
			Optional().
			Nillable().
			Annotations(noInput),
		field.Time("disabled_at").
			Optional().
			Nillable().
			Annotations(noInput).
			Comment("When the server disabled the webhook after repeated failures."),
	}
}

func (Webhook) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("deliveries", WebhookDelivery.Type).
			Annotations(entgql.RelayConnection(), entsql.OnDelete(entsql.Cascade),
				entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

func (Webhook) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// WebhookDelivery is one event queued for, or POSTed to, one webhook.
// The body is fixed when the event is recorded, so every attempt and a
// redelivery send the same bytes.
type WebhookDelivery struct{ ent.Schema }

func (WebhookDelivery) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{typ: gid.WebhookDelivery}, timeMixin{}, workspaceMixin{}}
}

func (WebhookDelivery) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("webhook_id").GoType(gid.ID(0)).Immutable().Annotations(entgql.Skip(entgql.SkipType)),
		field.Int64("event_id").GoType(gid.ID(0)).Optional().Nillable().Immutable().Annotations(entgql.Skip(entgql.SkipType)),
		field.String("kind").
			Immutable().
			Comment("The event's kind, or PING for testWebhook."),
		field.Text("body").
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("status").
			Values("PENDING", "DELIVERED", "FAILED").
			Default("PENDING").
			Annotations(entgql.OrderField("STATUS")),
		field.Int("attempts").
			Default(0).
			NonNegative(),
		field.Time("next_attempt_at").
			Default(time.Now).
			Annotations(entgql.OrderField("NEXT_ATTEMPT_AT")).
			Comment("When a PENDING delivery is due; a worker that claims it moves it past its lease."),
		field.Time("last_attempt_at").Optional().Nillable(),
		field.Int("response_status").Optional().Nillable().Comment("The HTTP status of the last attempt's answer."),
		field.Text("last_error").Optional().Nillable(),
		field.Time("delivered_at").Optional().Nillable(),
	}
}

func (WebhookDelivery) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("webhook", Webhook.Type).Ref("deliveries").Field("webhook_id").Unique().Required().Immutable(),
		// The body keeps what was sent after the event goes with its prototype.
		edge.To("event", Event.Type).Field("event_id").Unique().Immutable().
			Annotations(entsql.OnDelete(entsql.SetNull)),
	}
}

func (WebhookDelivery) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("status", "next_attempt_at"), // what the worker claims
		index.Fields("webhook_id", "created_at"),
		index.Fields("event_id"),
	}
}

func (WebhookDelivery) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
