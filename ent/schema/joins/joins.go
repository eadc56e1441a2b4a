// Package joins reads, in the statement of a page, what a hand-written
// resolver of the page's rows would otherwise read with a statement of its
// own. Field collection (the generated collectField in ent/, through the
// ResolverJoins annotation and the template ent/entc.go patches) calls a
// join with the field being collected; the join returns a modifier of the
// page's query, or nil when it cannot answer that field's selection, which
// is then left to the resolver's own loading.
//
// A join reads no more than the viewer may see without a policy of its
// own: each one states why its rows are visible to whoever sees the row
// it is joined to.
package joins

import (
	"entgo.io/ent/dialect/sql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/participant"
)

// ActorNameColumn is the column ActorNames adds to an event's row: the
// display name of the participant who acted, NULL when the join found
// none (a user acted, or the server did). It keeps the participants'
// column name, no alias: the pages read per parent (pagesql.LimitPerParent
// and entgql's window) select the inner query's columns by their
// unqualified names, which leave aliases out. No column of events may
// have that name (TestActorNameIsNoColumnOfEvents).
const ActorNameColumn = participant.FieldDisplayName

// Values holds what the joins read with one row of a type that has them
// (schema.ResolverJoins): a field per joined column. The generated entity
// and the block its rows are scanned into each hold one, so that a
// joined column costs a row no allocation of its own: ent keeps the
// columns it does not know in a map per entity, of values allocated per
// row.
type Values struct {
	actorName sql.NullString
}

// Dest is where column is scanned, if a join added it to the row; nil if
// none did. ent's generated scanning asks for the columns it does not
// know.
func (v *Values) Dest(column string) any {
	if column == ActorNameColumn {
		return &v.actorName
	}
	return nil
}

// Assign copies into v the value src of column that a row was scanned
// into (a Dest of another Values), and reports whether a join added the
// column; false leaves it to ent, which keeps what it does not know.
func (v *Values) Assign(column string, src any) bool {
	if column != ActorNameColumn {
		return false
	}
	if name, ok := src.(*sql.NullString); ok {
		v.actorName = *name
	}
	return true
}

// ActorName is the name ActorNames read; false for NULL (no participant
// of the event's prototype acted), or if the row was read without it.
func (v *Values) ActorName() (string, bool) {
	return v.actorName.String, v.actorName.Valid
}

// ParticipantImplementors are the GraphQL types whose fields apply to a
// participant in an actor's selection (gqlgen's participantImplementors;
// a test in graph checks that they agree).
var ParticipantImplementors = []string{"Participant", "Node", "Actor"}

// actorNameFields are the fields of a participant the join answers: its
// ID, which the event's row has, and its display name, which the join
// reads. graph builds the participant from these two alone, so a field
// added here must be read by the join too.
var actorNameFields = map[string]bool{"__typename": true, "id": true, "displayName": true}

// ActorNames reads the name of each event's participant actor with the
// events, for an actor field that asks a participant for nothing but its
// ID and display name (timelines show who did what): a page of 30 events
// is then one statement, not one and another for its actors.
//
// The participant is joined only if it belongs to the event's own
// workspace and prototype. Whoever may see such an event may see that
// participant, by the policies in ent/schema/policy.go: a member of the
// event's workspace sees every participant in it (Participant: read by any
// member), and a tester sees events only of a prototype it tests (Event:
// rule.FilterEvents), whose participants it sees (Participant:
// TestedPrototypes). What a tester may see of the participant's name is
// the displayName resolver's to decide, as for a participant read by
// itself. An actor outside the event's prototype is not joined, and its
// resolver loads it under the Participant policy.
func ActorNames(opCtx *graphql.OperationContext, actor graphql.CollectedField) func(*sql.Selector) {
	if !AnswersActor(opCtx, actor.Selections) {
		return nil
	}
	return func(s *sql.Selector) {
		a := sql.Table(participant.Table).As("actor_participant")
		s.LeftJoin(a).OnP(sql.And(
			sql.ColumnsEQ(a.C(participant.FieldID), s.C(event.FieldActorParticipantID)),
			sql.ColumnsEQ(a.C(participant.FieldWorkspaceID), s.C(event.FieldWorkspaceID)),
			sql.ColumnsEQ(a.C(participant.FieldPrototypeID), s.C(event.FieldPrototypeID)),
		))
		s.AppendSelect(a.C(ActorNameColumn))
	}
}

// AnswersActor reports whether an actor field with these selections asks
// a participant for no more than ActorNames reads. The resolver asks it
// too: one event's actor can be selected twice under two aliases, and the
// join, read for one of them, does not answer the other.
func AnswersActor(opCtx *graphql.OperationContext, selections ast.SelectionSet) bool {
	for _, f := range graphql.CollectFields(opCtx, selections, ParticipantImplementors) {
		if !actorNameFields[f.Name] {
			return false
		}
	}
	return true
}
