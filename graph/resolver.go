package graph

import (
	"context"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/server/broker"
)

// Resolver holds what the resolvers share. Mutations read the transaction
// client from their context (ent.FromContext), set by the Transactioner;
// queries use client; subscriptions subscribe to the broker.
type Resolver struct {
	client  *ent.Client
	dialect string // ent's dialect name: where SQLite and PostgreSQL differ
	broker  *broker.Broker
	// identities is the server's identity cache, where a subscription
	// finds the identity its websocket's connection_init resolved.
	identities *IdentityCache
	log        *slog.Logger
}

// NewSchema returns protoloop's executable GraphQL schema over client,
// whose database speaks the given ent dialect. Subscriptions stream from
// events, which the server runs (and hands to NewTransactioner as its
// Publisher); without one they fail. identities, if not nil, is the
// cache Authenticate goes through: subscriptions take their caller's
// identity from it, and the broker must hear of its invalidations
// (broker.Broker.IdentitiesChanged).
func NewSchema(client *ent.Client, dialect string, events *broker.Broker, identities *IdentityCache, log *slog.Logger) graphql.ExecutableSchema {
	schema := NewExecutableSchema(Config{Resolvers: newResolverRoot(&Resolver{client: client, dialect: dialect, broker: events, identities: identities, log: log})})
	return sharingSchema{perResponse{schema}, newPayloadCache(sharedPayloads)}
}

// resolverRoot is the ResolverRoot the executor asks for each type's
// resolvers, once per field it resolves: a dashboard asks for a
// participant's 1,000 times. *Resolver's methods (generated beside the
// resolvers) allocate the type's resolver on each call; these hand out
// one built with the root.
type resolverRoot struct {
	*Resolver
	event        eventResolver
	feedback     feedbackResolver
	iteration    iterationResolver
	mutation     mutationResolver
	participant  participantResolver
	prototype    prototypeResolver
	query        queryResolver
	scorecard    scorecardResolver
	subscription subscriptionResolver
	user         userResolver
	webhook      webhookResolver
	workspace    workspaceResolver
}

var _ ResolverRoot = (*resolverRoot)(nil)

func newResolverRoot(r *Resolver) *resolverRoot {
	return &resolverRoot{Resolver: r,
		event: eventResolver{r}, feedback: feedbackResolver{r}, iteration: iterationResolver{r},
		mutation: mutationResolver{r}, participant: participantResolver{r}, prototype: prototypeResolver{r},
		query: queryResolver{r}, scorecard: scorecardResolver{r}, subscription: subscriptionResolver{r},
		user: userResolver{r}, webhook: webhookResolver{r}, workspace: workspaceResolver{r},
	}
}

func (r *resolverRoot) Event() EventResolver               { return &r.event }
func (r *resolverRoot) Feedback() FeedbackResolver         { return &r.feedback }
func (r *resolverRoot) Iteration() IterationResolver       { return &r.iteration }
func (r *resolverRoot) Mutation() MutationResolver         { return &r.mutation }
func (r *resolverRoot) Participant() ParticipantResolver   { return &r.participant }
func (r *resolverRoot) Prototype() PrototypeResolver       { return &r.prototype }
func (r *resolverRoot) Query() QueryResolver               { return &r.query }
func (r *resolverRoot) Scorecard() ScorecardResolver       { return &r.scorecard }
func (r *resolverRoot) Subscription() SubscriptionResolver { return &r.subscription }
func (r *resolverRoot) User() UserResolver                 { return &r.user }
func (r *resolverRoot) Webhook() WebhookResolver           { return &r.webhook }
func (r *resolverRoot) Workspace() WorkspaceResolver       { return &r.workspace }

// perResponse gives every response of an operation (the one response of
// a query or mutation, each event of a subscription) a cache its fields
// share (requestcache.go). Nothing is kept from one response to the next.
type perResponse struct{ graphql.ExecutableSchema }

// Exec implements graphql.ExecutableSchema.
func (s perResponse) Exec(ctx context.Context) graphql.ResponseHandler {
	next := s.ExecutableSchema.Exec(ctx)
	op := graphql.GetOperationContext(ctx).Operation
	mutation := op != nil && op.Operation == ast.Mutation
	// The executor calls the handler with a context of its own, not the
	// one given to Exec: what the response shares goes into that one.
	return func(ctx context.Context) *graphql.Response {
		c := &requestCache{mutation: mutation, entries: map[any]*cacheEntry{}}
		return next(context.WithValue(ctx, requestCacheKey{}, c))
	}
}

// reader is the client a query field reads with: the mutation's
// transaction inside one, so that it sees the mutation's writes.
func (r *Resolver) reader(ctx context.Context) *ent.Client {
	if c := ent.FromContext(ctx); c != nil {
		return c
	}
	return r.client
}
