package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/webhook"
)

// A webhook's secret signs its deliveries (HMAC-SHA256), so, unlike a
// token, it is stored as it is; the API shows it once, on creation.
const (
	webhookSecretPrefix = "whsec_"
	maxWebhookURL       = 2048
	maxDescription      = 200
	// PingKind is the kind of the deliveries testWebhook queues.
	PingKind = "PING"
)

// DeliveryBody is the JSON a webhook receives: an event of its workspace.
// ID is the event's (the delivery's for a PING), the same on every
// attempt and redelivery, so that receivers can drop repeats.
type DeliveryBody struct {
	ID         string         `json:"id"`
	Kind       string         `json:"kind"`
	OccurredAt time.Time      `json:"occurredAt"`
	Workspace  string         `json:"workspace"`
	Prototype  *string        `json:"prototype"`
	Subject    *string        `json:"subject"`
	Data       map[string]any `json:"data"`
}

// checkWebhookURL checks a webhook URL before ent's validator does, for
// a message that names the field.
func checkWebhookURL(u string) error {
	if len(u) > maxWebhookURL || (!strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://")) {
		return badInput("url", "url must be an http or https URL of at most %d characters", maxWebhookURL)
	}
	return nil
}

// checkEventKinds returns the kinds without repeats, at least one.
func checkEventKinds(kinds []event.Kind) ([]string, error) {
	if len(kinds) == 0 {
		return nil, badInput("eventKinds", "give at least one event kind")
	}
	out := make([]string, 0, len(kinds))
	for _, k := range kinds {
		if err := event.KindValidator(k); err != nil {
			return nil, badInput("eventKinds", "%q is not an event kind", k)
		}
		if !slices.Contains(out, string(k)) {
			out = append(out, string(k))
		}
	}
	return out, nil
}

func checkDescription(d *string) error {
	if d != nil && utf8.RuneCountInString(*d) > maxDescription {
		return badInput("description", "description must be at most %d characters", maxDescription)
	}
	return nil
}

// createWebhook makes a webhook for a workspace; the policy admits its
// owners. The secret is in the payload, and nowhere else, ever again.
func createWebhook(ctx context.Context, client *ent.Client, input CreateWebhookInput) (*CreateWebhookPayload, error) {
	if err := checkWebhookURL(input.URL); err != nil {
		return nil, err
	}
	kinds, err := checkEventKinds(input.EventKinds)
	if err != nil {
		return nil, err
	}
	if err := checkDescription(input.Description); err != nil {
		return nil, err
	}
	ws, err := client.Workspace.Get(ctx, input.WorkspaceID)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("workspace")
	case err != nil:
		return nil, fmt.Errorf("create webhook: %w", err)
	}
	secret, err := newSecret(webhookSecretPrefix)
	if err != nil {
		return nil, fmt.Errorf("create webhook: %w", err)
	}
	h, err := client.Webhook.Create().
		SetWorkspaceID(ws.ID).
		SetURL(input.URL).
		SetSecret(secret).
		SetEventKinds(kinds).
		SetNillableDescription(input.Description).
		SetNillableEnabled(input.Enabled).
		Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("create webhook: %w", err)
	}
	recordWebhook(ctx, event.KindWEBHOOK_CREATED, h, nil)
	h, err = loadChild(ctx, client.Webhook.Query().Where(webhook.ID(h.ID)), "webhook",
		createWebhookPayloadImplementors, webhookImplementors)
	if err != nil {
		return nil, fmt.Errorf("create webhook: read back: %w", err)
	}
	return &CreateWebhookPayload{Webhook: h, Secret: secret}, nil
}

// updateWebhook changes a webhook. Turning one on starts its failure
// count afresh.
func updateWebhook(ctx context.Context, client *ent.Client, id gid.ID, input UpdateWebhookInput) (*ent.Webhook, error) {
	h, err := client.Webhook.Get(ctx, id)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("webhook")
	case err != nil:
		return nil, fmt.Errorf("update webhook: %w", err)
	}
	upd := client.Webhook.UpdateOne(h)
	var changed []string // the fields given a new value, for the event
	if input.URL != nil {
		if err := checkWebhookURL(*input.URL); err != nil {
			return nil, err
		}
		upd.SetURL(*input.URL)
		if *input.URL != h.URL {
			changed = append(changed, "url")
		}
	}
	if input.EventKinds != nil {
		kinds, err := checkEventKinds(input.EventKinds)
		if err != nil {
			return nil, err
		}
		upd.SetEventKinds(kinds)
		if !slices.Equal(kinds, h.EventKinds) {
			changed = append(changed, "eventKinds")
		}
	}
	if err := checkDescription(input.Description); err != nil {
		return nil, err
	}
	upd.SetNillableDescription(input.Description)
	if d := input.Description; d != nil && *d != h.Description {
		changed = append(changed, "description")
	}
	if e := input.Enabled; e != nil {
		upd.SetEnabled(*e)
		if *e && !h.Enabled {
			upd.SetFailureCount(0).ClearDisabledAt()
		}
		if *e != h.Enabled {
			changed = append(changed, "enabled")
		}
	}
	updated, err := upd.Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("update webhook %s: %w", id, err)
	}
	if e := input.Enabled; e != nil && *e && !h.Enabled {
		noteDeliveries(ctx) // its pending deliveries are due again
	}
	if len(changed) > 0 {
		recordWebhook(ctx, event.KindWEBHOOK_UPDATED, updated, changed)
	}
	return reload[*ent.Webhook](ctx, client, h.ID)
}

// rotateWebhookSecret gives a webhook a new secret and returns it, once.
// Deliveries read the secret when they are claimed, so every attempt
// claimed after this commits is signed with the new one; there is no
// overlap in which the old one still signs.
func rotateWebhookSecret(ctx context.Context, client *ent.Client, id gid.ID) (*RotateWebhookSecretPayload, error) {
	h, err := client.Webhook.Get(ctx, id)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("webhook")
	case err != nil:
		return nil, fmt.Errorf("rotate webhook secret: %w", err)
	}
	secret, err := newSecret(webhookSecretPrefix)
	if err != nil {
		return nil, fmt.Errorf("rotate webhook secret: %w", err)
	}
	h, err = client.Webhook.UpdateOne(h).SetSecret(secret).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("rotate secret of webhook %s: %w", id, err)
	}
	recordWebhook(ctx, event.KindWEBHOOK_UPDATED, h, []string{"secret"})
	h, err = loadChild(ctx, client.Webhook.Query().Where(webhook.ID(h.ID)), "webhook",
		rotateWebhookSecretPayloadImplementors, webhookImplementors)
	if err != nil {
		return nil, fmt.Errorf("rotate webhook secret: read back: %w", err)
	}
	return &RotateWebhookSecretPayload{Webhook: h, Secret: secret}, nil
}

// recordWebhook records a change to a webhook, for its workspace's owners
// (rule.FilterEvents). The payload never has the secret, nor the URL, whose
// path or query may be a credential of its own (many chat services' are):
// only its host, the kinds delivered, whether it is on, and for an update
// the fields changed ("secret" for a rotation).
func recordWebhook(ctx context.Context, kind event.Kind, h *ent.Webhook, changed []string) {
	record(ctx, change{kind: kind, workspace: h.WorkspaceID, subject: h.ID, payload: webhookPayload(h, changed)})
}

// webhookPayload is the payload of recordWebhook's events.
func webhookPayload(h *ent.Webhook, changed []string) map[string]any {
	payload := map[string]any{
		"host":       webhookHost(h.URL),
		"eventKinds": h.EventKinds,
		"enabled":    h.Enabled,
	}
	if changed != nil {
		payload["changed"] = changed
	}
	return payload
}

// RecordWebhookDisabled records, within Transactioner.Run, that the
// delivery worker disabled h after its failures (h.FailureCount in a
// row): a WEBHOOK_UPDATED without an actor, which only the workspace's
// owners see, as for an owner's change.
func RecordWebhookDisabled(ctx context.Context, h *ent.Webhook) {
	payload := webhookPayload(h, []string{"enabled"})
	payload["failures"] = h.FailureCount
	record(ctx, change{kind: event.KindWEBHOOK_UPDATED, workspace: h.WorkspaceID, subject: h.ID, payload: payload})
}

// webhookHost is the host (and port) of a webhook URL.
func webhookHost(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return parsed.Host
}

// deleteWebhook deletes a webhook with its deliveries.
func deleteWebhook(ctx context.Context, client *ent.Client, id gid.ID) (*ent.Workspace, error) {
	h, err := client.Webhook.Get(ctx, id)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("webhook")
	case err != nil:
		return nil, fmt.Errorf("delete webhook: %w", err)
	}
	if err := client.Webhook.DeleteOne(h).Exec(ctx); err != nil {
		return nil, fmt.Errorf("delete webhook %s: %w", id, err)
	}
	recordWebhook(ctx, event.KindWEBHOOK_DELETED, h, nil)
	return reload[*ent.Workspace](ctx, client, h.WorkspaceID)
}

// testWebhook queues a PING to a webhook.
func testWebhook(ctx context.Context, client *ent.Client, id gid.ID) (*ent.WebhookDelivery, error) {
	h, err := client.Webhook.Get(ctx, id)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("webhook")
	case err != nil:
		return nil, fmt.Errorf("test webhook: %w", err)
	}
	deliveryID := gid.New(gid.WebhookDelivery)
	body, err := json.Marshal(DeliveryBody{
		ID:         deliveryID.String(),
		Kind:       PingKind,
		OccurredAt: time.Now().UTC(),
		Workspace:  h.WorkspaceID.String(),
		Data:       map[string]any{"webhook": h.ID.String()},
	})
	if err != nil {
		return nil, fmt.Errorf("test webhook: %w", err)
	}
	d, err := client.WebhookDelivery.Create().
		SetID(deliveryID).
		SetWorkspaceID(h.WorkspaceID).
		SetWebhookID(h.ID).
		SetKind(PingKind).
		SetBody(string(body)).
		Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("test webhook %s: %w", id, err)
	}
	noteDeliveries(ctx)
	return reload[*ent.WebhookDelivery](ctx, client, d.ID)
}

// redeliverWebhook queues a delivery's body again, as a new delivery.
func redeliverWebhook(ctx context.Context, client *ent.Client, id gid.ID) (*ent.WebhookDelivery, error) {
	old, err := client.WebhookDelivery.Get(ctx, id)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("webhook delivery")
	case err != nil:
		return nil, fmt.Errorf("redeliver: %w", err)
	}
	d, err := client.WebhookDelivery.Create().
		SetWorkspaceID(old.WorkspaceID).
		SetWebhookID(old.WebhookID).
		SetNillableEventID(old.EventID).
		SetKind(old.Kind).
		SetBody(old.Body).
		Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("redeliver %s: %w", id, err)
	}
	noteDeliveries(ctx)
	return reload[*ent.WebhookDelivery](ctx, client, d.ID)
}

// workspaceWebhooks lists a workspace's webhooks, oldest first; the
// policy shows them to owners only.
func workspaceWebhooks(ctx context.Context, client *ent.Client, workspaceID gid.ID) ([]*ent.Webhook, error) {
	q, err := client.Webhook.Query().
		Where(webhook.WorkspaceID(workspaceID)).
		Order(ent.Asc(webhook.FieldCreatedAt), ent.Asc(webhook.FieldID)).
		CollectFields(ctx)
	if err != nil {
		return nil, fmt.Errorf("collect webhook fields: %w", err)
	}
	hooks, err := q.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("webhooks of workspace %s: %w", workspaceID, err)
	}
	return hooks, nil
}

// webhookEventKinds is Webhook.eventKinds.
func webhookEventKinds(h *ent.Webhook) []event.Kind {
	kinds := make([]event.Kind, len(h.EventKinds))
	for i, k := range h.EventKinds {
		kinds[i] = event.Kind(k)
	}
	return kinds
}

// eventWebhooks returns the enabled webhooks of the events' workspaces,
// with their IDs, workspaces and event kinds only. (On PostgreSQL the
// statement that writes the events reads them: writePendingEvents.)
func eventWebhooks(ctx context.Context, tx *ent.Tx, events []*ent.Event) ([]*ent.Webhook, error) {
	var workspaces []gid.ID
	for _, e := range events {
		if !slices.Contains(workspaces, e.WorkspaceID) {
			workspaces = append(workspaces, e.WorkspaceID)
		}
	}
	hooks, err := tx.Webhook.Query().
		Where(webhook.WorkspaceIDIn(workspaces...), webhook.Enabled(true)).
		Select(webhook.FieldID, webhook.FieldWorkspaceID, webhook.FieldEventKinds).
		All(system(ctx))
	if err != nil {
		return nil, fmt.Errorf("webhooks of events: %w", err)
	}
	return hooks, nil
}

// enqueueDeliveries queues a delivery of each event to every one of hooks
// (eventWebhooks) that takes its kind, in the transaction that writes the
// events: a delivery exists exactly when its event does, and outlives a
// restart. It costs one insert when any match. It returns how many it
// queued.
func enqueueDeliveries(ctx context.Context, tx *ent.Tx, events []*ent.Event, hooks []*ent.Webhook) (int, error) {
	if len(hooks) == 0 {
		return 0, nil
	}
	var err error
	var builders []*ent.WebhookDeliveryCreate
	for _, e := range events {
		var body []byte
		for _, h := range hooks {
			if h.WorkspaceID != e.WorkspaceID || !slices.Contains(h.EventKinds, string(e.Kind)) {
				continue
			}
			if body == nil {
				if body, err = deliveryBody(e); err != nil {
					return 0, err
				}
			}
			builders = append(builders, tx.WebhookDelivery.Create().
				SetWorkspaceID(e.WorkspaceID).
				SetWebhookID(h.ID).
				SetEventID(e.ID).
				SetKind(string(e.Kind)).
				SetBody(string(body)))
		}
	}
	if len(builders) == 0 {
		return 0, nil
	}
	if err := tx.WebhookDelivery.CreateBulk(builders...).Exec(system(ctx)); err != nil {
		return 0, fmt.Errorf("queue webhook deliveries: %w", err)
	}
	return len(builders), nil
}

// deliveryBody is the JSON body of an event's deliveries.
func deliveryBody(e *ent.Event) ([]byte, error) {
	b := DeliveryBody{
		ID:         e.ID.String(),
		Kind:       string(e.Kind),
		OccurredAt: e.OccurredAt.UTC(),
		Workspace:  e.WorkspaceID.String(),
		Data:       e.Payload,
	}
	if e.PrototypeID != nil {
		p := e.PrototypeID.String()
		b.Prototype = &p
	}
	if e.SubjectID != 0 {
		s := e.SubjectID.String()
		b.Subject = &s
	}
	if b.Data == nil {
		b.Data = map[string]any{}
	}
	body, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode delivery of event %s: %w", e.ID, err)
	}
	return body, nil
}
