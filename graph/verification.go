package graph

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"entgo.io/contrib/entgql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/feedback"
	"github.com/protoloop/protoloop/ent/iteration"
	"github.com/protoloop/protoloop/ent/participant"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/rule"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// Verified "you said, we did". Feedback marked ADDRESSED by an iteration
// waits for its author once that iteration is out: publishing it (or
// marking feedback addressed by an iteration already published) records
// a VERIFICATION_REQUESTED event per piece of feedback, and the feedback
// shows in its author's pendingVerifications. The author answers with
// verifyFix: FIXED or PARTLY make it VERIFIED, NOT_FIXED reopens it. The
// verdict is kept on the feedback (verdict, verifiedAt), the note becomes
// the author's comment, and a FEEDBACK_VERIFIED event records the answer.
//
// PARTLY counts as VERIFIED on purpose: the author confirms the iteration
// changed what they asked about, and half-reopened feedback would sit in
// triage with a fix it partly has. What is left is new feedback; the
// verdict keeps the "partly" for the scorecards and the team to see.

// requestVerifications asks the authors of feedback that a published
// iteration addressed to check the fix: one event per piece of feedback,
// on the prototype's timeline, naming its author.
func requestVerifications(ctx context.Context, it *ent.Iteration, fbs []*ent.Feedback) {
	if it.Status == iteration.StatusDRAFT {
		return // asked when it is published
	}
	for _, fb := range fbs {
		payload := map[string]any{"iteration": it.ID.String(), "author": fb.AuthorID.String()}
		if it.Number != nil {
			payload["number"] = *it.Number
		}
		record(ctx, change{
			kind:      event.KindVERIFICATION_REQUESTED,
			workspace: fb.WorkspaceID,
			prototype: fb.PrototypeID,
			subject:   fb.ID,
			payload:   payload,
		})
	}
}

// requestVerificationsOnPublish asks for the verdicts on the feedback an
// iteration addressed while it was a draft, as it is published.
func requestVerificationsOnPublish(ctx context.Context, client *ent.Client, it *ent.Iteration) error {
	fbs, err := client.Feedback.Query().
		Where(feedback.AddressedInID(it.ID), feedback.StatusEQ(feedback.StatusADDRESSED)).
		Order(ent.Asc(feedback.FieldID)).
		All(ctx)
	if err != nil {
		return fmt.Errorf("feedback addressed by iteration %s: %w", it.ID, err)
	}
	requestVerifications(ctx, it, fbs)
	return nil
}

// viewerAuthors is the condition "left by the viewer": by one of the
// participants the viewer acts as, a tester's or their user's.
func viewerAuthors(ctx context.Context) (func(*ent.FeedbackQuery) *ent.FeedbackQuery, error) {
	id := viewer.FromContext(ctx)
	if id == nil {
		return nil, rule.ErrUnauthenticated
	}
	var own []gid.ID
	for _, t := range id.Testing() {
		own = append(own, t.Participant)
	}
	return func(q *ent.FeedbackQuery) *ent.FeedbackQuery {
		mine := feedback.AuthorIDIn(own...)
		if !id.IsGuest() && id.UserID != 0 {
			mine = feedback.Or(mine, feedback.HasAuthorWith(participant.UserID(id.UserID)))
		}
		return q.Where(mine)
	}, nil
}

// pendingVerifications lists the viewer's feedback that waits for their
// verdict: ADDRESSED by an iteration that is out.
func pendingVerifications(ctx context.Context, client *ent.Client, first *int, after *entgql.Cursor[gid.ID]) (*ent.FeedbackConnection, error) {
	mine, err := viewerAuthors(ctx)
	if err != nil {
		return nil, err
	}
	q := mine(client.Feedback.Query()).Where(
		feedback.StatusEQ(feedback.StatusADDRESSED),
		feedback.HasAddressedInWith(iteration.StatusNEQ(iteration.StatusDRAFT)),
	)
	oldest := &ent.FeedbackOrder{Direction: entgql.OrderDirectionAsc, Field: ent.FeedbackOrderFieldCreatedAt}
	return q.Paginate(ctx, after, first, nil, nil, ent.WithFeedbackOrder(oldest))
}

// verifyFix records the author's verdict on the fix of their feedback.
func verifyFix(ctx context.Context, client *ent.Client, dialectName string, id gid.ID, verdict feedback.Verdict, note *string) (*ent.Feedback, error) {
	if note != nil {
		if err := validateBody(*note); err != nil {
			return nil, badInput("note", "note must be 1 to %d characters", maxBodyChars)
		}
	}
	fb, err := lockFeedback(ctx, client, dialectName, id)
	if err != nil {
		return nil, err
	}
	p, err := findParticipant(ctx, client, fb.PrototypeID)
	if err != nil {
		return nil, err
	}
	if p == nil || p.ID != fb.AuthorID {
		return nil, forbidden("only the person who left the feedback can say whether it was fixed")
	}
	to := feedback.StatusVERIFIED
	if verdict == feedback.VerdictNOT_FIXED {
		to = feedback.StatusOPEN
	}
	if fb.Verdict != nil && *fb.Verdict == verdict && fb.Status == to {
		return reloadOneFeedback(ctx, client, fb.ID) // said already
	}
	if fb.Status != feedback.StatusADDRESSED || fb.AddressedInID == nil {
		return nil, badInput("feedback", "the feedback is %s: only ADDRESSED feedback waits for your verdict", fb.Status)
	}
	it, err := client.Iteration.Get(ctx, *fb.AddressedInID)
	switch {
	case ent.IsNotFound(err) || (err == nil && it.Status == iteration.StatusDRAFT):
		return nil, badInput("feedback", "the iteration that addresses it is not out yet")
	case err != nil:
		return nil, fmt.Errorf("verify fix of feedback %s: %w", id, err)
	}
	upd := client.Feedback.UpdateOne(fb).
		SetStatus(to).
		SetVerdict(verdict).
		SetVerifiedAt(time.Now())
	if to == feedback.StatusOPEN {
		// Reopened feedback waits for a fix again, as after triage.
		upd.ClearAddressedIn()
	}
	if err := upd.Exec(ctx); err != nil {
		return nil, fmt.Errorf("verify fix of feedback %s: %w", id, err)
	}
	payload := map[string]any{"verdict": string(verdict), "from": string(fb.Status), "to": string(to), "iteration": it.ID.String()}
	if note != nil {
		c, err := client.Comment.Create().
			SetWorkspaceID(fb.WorkspaceID).
			SetPrototypeID(fb.PrototypeID).
			SetFeedbackID(fb.ID).
			SetAuthorID(p.ID).
			SetBody(*note).
			Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("note on the fix of feedback %s: %w", id, err)
		}
		payload["comment"] = c.ID.String()
		record(ctx, change{kind: event.KindCOMMENT_ADDED, workspace: c.WorkspaceID, prototype: c.PrototypeID, subject: c.ID,
			participant: p.ID, payload: map[string]any{"feedback": fb.ID.String()}})
	}
	record(ctx, change{kind: event.KindFEEDBACK_VERIFIED, workspace: fb.WorkspaceID, prototype: fb.PrototypeID, subject: fb.ID,
		participant: p.ID, payload: payload})
	return reloadOneFeedback(ctx, client, fb.ID)
}

// verificationRequests streams the VERIFICATION_REQUESTED events of a
// prototype that are about the viewer's own feedback. The broker streams
// the prototype's events of that kind as for prototypeEvents; the ones
// for other authors are dropped here.
//
// Which author is the viewer's is looked up once per author a request
// names, not once per request: a member who never took part has no
// participant to compare with, and looking it up for every request to
// someone else would cost a statement per event. An author once found
// not to be the viewer's stays so, with one exception: a user claims a
// guest's participation (TESTER_JOINED), which makes an existing
// participant theirs, so the answers known so far are dropped then.
func (r *Resolver) verificationRequests(ctx context.Context, prototype gid.ID, after *entgql.Cursor[gid.ID]) (<-chan *ent.Event, error) {
	in, err := r.prototypeEvents(ctx, prototype, after, []event.Kind{event.KindVERIFICATION_REQUESTED, event.KindTESTER_JOINED})
	if err != nil {
		return nil, err
	}
	out := make(chan *ent.Event)
	go func() {
		defer close(out)
		var (
			mine    gid.ID
			notMine = map[string]bool{} // authors seen while the viewer had no participant
		)
		for e := range in { // the broker closes in when ctx ends
			if e.Kind == event.KindTESTER_JOINED {
				clear(notMine)
				continue
			}
			author, _ := e.Payload["author"].(string)
			if mine == 0 && !notMine[author] {
				// A member takes part on their first feedback, which may
				// come after they subscribed.
				p, err := findParticipant(ctx, r.client, prototype)
				switch {
				case err != nil:
					r.log.WarnContext(ctx, "verification requests: find participant", "err", err)
				case p != nil:
					mine = p.ID
				default:
					notMine[author] = true
				}
			}
			if mine == 0 || author != mine.String() {
				continue
			}
			select {
			case out <- e:
			case <-ctx.Done():
				for range in { // let the broker finish with it
				}
				return
			}
		}
	}()
	return out, nil
}

// youSaidWeDid is Iteration.youSaidWeDid: the feedback the iteration
// addressed by kind, most voted first, and who left it. Retracted feedback
// is left out. Participants come through their own resolver, which masks
// testers' names as everywhere. The addressed feedback of all of the
// prototype's iterations is read at once, with its authors, once per
// request, so a page of iterations costs two statements.
func youSaidWeDid(ctx context.Context, client *ent.Client, it *ent.Iteration) (*YouSaidWeDid, error) {
	load := func() (map[gid.ID][]*ent.Feedback, error) {
		fbs, err := client.Feedback.Query().
			Where(
				feedback.PrototypeID(it.PrototypeID),
				feedback.AddressedInIDNotNil(),
				feedback.StatusIn(feedback.StatusADDRESSED, feedback.StatusVERIFIED),
			).
			WithAuthor().
			Order(ent.Desc(feedback.FieldVoteCount), ent.Asc(feedback.FieldID)).
			All(ctx)
		if err != nil {
			return nil, fmt.Errorf("addressed feedback of prototype %s: %w", it.PrototypeID, err)
		}
		byIteration := map[gid.ID][]*ent.Feedback{}
		for _, fb := range fbs {
			byIteration[*fb.AddressedInID] = append(byIteration[*fb.AddressedInID], fb)
		}
		return byIteration, nil
	}
	var (
		byIteration map[gid.ID][]*ent.Feedback
		err         error
	)
	byIteration, err = cached(cacheFrom(ctx), addressedKey{it.PrototypeID}, load)
	if err != nil {
		return nil, err
	}
	fbs := byIteration[it.ID]
	out := &YouSaidWeDid{FeedbackCount: len(fbs), Groups: []*AddressedFeedbackGroup{}, ShapedBy: []*ent.Participant{}}
	for _, kind := range feedbackKinds {
		g := &AddressedFeedbackGroup{Kind: kind}
		for _, fb := range fbs {
			if fb.Kind == kind {
				g.Feedback = append(g.Feedback, fb)
			}
		}
		if len(g.Feedback) > 0 {
			out.Groups = append(out.Groups, g)
		}
	}
	seen := map[gid.ID]bool{}
	for _, fb := range fbs {
		if a := fb.Edges.Author; a != nil && !seen[a.ID] {
			seen[a.ID] = true
			out.ShapedBy = append(out.ShapedBy, a)
		}
	}
	slices.SortFunc(out.ShapedBy, func(a, b *ent.Participant) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

type addressedKey struct{ prototype gid.ID }
