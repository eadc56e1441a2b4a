package graph

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/comment"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/feedback"
	"github.com/protoloop/protoloop/ent/participant"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/vote"
)

// Likely duplicates are found on PostgreSQL with pg_trgm's similarity()
// (trigram overlap, 0 to 1) when the extension is installed, wherever it
// is: the search migration tries to create it, but may lack the rights.
// Without it, and on SQLite, they are found by word overlap (Jaccard:
// shared words over all words), computed here over the prototype's
// similarCandidates most recent pieces of feedback. Both score 1 for the
// same text and are cut off at similarThreshold.

// Limits of Feedback.similar.
const (
	similarDefaultFirst = 5
	similarMaxFirst     = 20
	similarThreshold    = 0.3
	similarCandidates   = 2000
)

// notDuplicates are the statuses similar leaves out: feedback its author
// took back, and duplicates already merged.
var notDuplicates = []feedback.Status{feedback.StatusRETRACTED, feedback.StatusMERGED}

func similar(ctx context.Context, client *ent.Client, dialectName string, fb *ent.Feedback, first *int) ([]*SimilarFeedback, error) {
	n := similarDefaultFirst
	if first != nil {
		if *first < 1 || *first > similarMaxFirst {
			return nil, badInput("first", "first must be 1 to %d", similarMaxFirst)
		}
		n = *first
	}
	type scored struct {
		ID    gid.ID  `json:"id"`
		Score float64 `json:"score"`
	}
	var found []scored
	candidates := client.Feedback.Query().Where(
		feedback.PrototypeID(fb.PrototypeID),
		feedback.IDNEQ(fb.ID),
		feedback.StatusNotIn(notDuplicates...),
	)
	trgm := ""
	if dialectName == dialect.Postgres {
		var err error
		// One look per response, not one per feedback of a list.
		if trgm, err = cached(cacheFrom(ctx), trigramKey{}, func() (string, error) { return trigramSchema(ctx, client) }); err != nil {
			return nil, err
		}
	}
	if trgm != "" {
		similarity := func(b *sql.Builder, body string) {
			b.WriteString(trgm + ".similarity(" + body + ", ").Arg(fb.Body).WriteString(")")
		}
		err := candidates.
			Where(func(s *sql.Selector) {
				s.Where(sql.P(func(b *sql.Builder) {
					similarity(b, s.C(feedback.FieldBody))
					b.WriteString(" >= ").Arg(similarThreshold)
				}))
			}).
			Limit(n).
			Modify(func(s *sql.Selector) {
				s.Select(s.C(feedback.FieldID))
				s.AppendSelectExprAs(sql.ExprFunc(func(b *sql.Builder) { similarity(b, s.C(feedback.FieldBody)) }), "score")
				s.OrderExpr(sql.Expr("score DESC"))
				s.OrderBy(sql.Desc(s.C(feedback.FieldCreatedAt)))
			}).
			Scan(ctx, &found)
		if err != nil {
			return nil, fmt.Errorf("find feedback like %s: %w", fb.ID, err)
		}
	} else {
		others, err := candidates.
			Order(ent.Desc(feedback.FieldCreatedAt)).
			Limit(similarCandidates).
			Select(feedback.FieldID, feedback.FieldBody).
			All(ctx)
		if err != nil {
			return nil, fmt.Errorf("find feedback like %s: %w", fb.ID, err)
		}
		words := wordSet(fb.Body)
		for _, o := range others {
			if s := jaccard(words, wordSet(o.Body)); s >= similarThreshold {
				found = append(found, scored{ID: o.ID, Score: s})
			}
		}
		slices.SortStableFunc(found, func(a, b scored) int { return cmp.Compare(b.Score, a.Score) })
		found = found[:min(n, len(found))]
	}
	ids := make([]gid.ID, len(found))
	for i, f := range found {
		ids[i] = f.ID
	}
	fbs, err := client.Feedback.Query().Where(feedback.IDIn(ids...)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load feedback like %s: %w", fb.ID, err)
	}
	byID := make(map[gid.ID]*ent.Feedback, len(fbs))
	for _, f := range fbs {
		byID[f.ID] = f
	}
	out := make([]*SimilarFeedback, 0, len(found))
	for _, f := range found {
		if o, ok := byID[f.ID]; ok {
			out = append(out, &SimilarFeedback{Feedback: o, Score: f.Score})
		}
	}
	return out, nil
}

// trigramSchema returns the quoted schema pg_trgm is installed in, or ""
// if it is not installed. It is looked up on every call, which costs a
// trigramKey names the schema of pg_trgm in a response's cache.
type trigramKey struct{}

// catalog read: an operator may install the extension at any time.
func trigramSchema(ctx context.Context, client *ent.Client) (string, error) {
	rows, err := client.QueryContext(ctx, `SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'`)
	if err != nil {
		return "", fmt.Errorf("look for pg_trgm: %w", err)
	}
	defer rows.Close()
	var schema string
	for rows.Next() {
		if err := rows.Scan(&schema); err != nil {
			return "", fmt.Errorf("look for pg_trgm: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("look for pg_trgm: %w", err)
	}
	return schema, nil
}

// wordSet returns the distinct lower-case words of s, leaving out words
// of one or two letters, which say little about what the text is about.
func wordSet(s string) map[string]bool {
	set := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if len([]rune(w)) > 2 {
			set[w] = true
		}
	}
	return set
}

// jaccard is the share of the words of a and b that both have.
func jaccard(a, b map[string]bool) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	both := 0
	for w := range a {
		if b[w] {
			both++
		}
	}
	return float64(both) / float64(len(a)+len(b)-both)
}

// contributors returns feedback's author, then the authors of the
// duplicates merged into it, in the order they were merged, each once.
func contributors(ctx context.Context, client *ent.Client, fb *ent.Feedback) ([]*ent.Participant, error) {
	merged, err := client.Feedback.Query().
		Where(feedback.MergedIntoID(fb.ID)).
		Order(ent.Asc(feedback.FieldUpdatedAt), ent.Asc(feedback.FieldID)).
		Select(feedback.FieldAuthorID).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load duplicates merged into %s: %w", fb.ID, err)
	}
	ids := []gid.ID{fb.AuthorID}
	for _, m := range merged {
		ids = append(ids, m.AuthorID)
	}
	ids = dedupe(ids)
	ps, err := client.Participant.Query().Where(participant.IDIn(ids...)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load contributors of %s: %w", fb.ID, err)
	}
	byID := make(map[gid.ID]*ent.Participant, len(ps))
	for _, p := range ps {
		byID[p.ID] = p
	}
	out := make([]*ent.Participant, 0, len(ids))
	for _, id := range ids {
		if p, ok := byID[id]; ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// mergeFeedback merges a duplicate into the original feedback on the same
// prototype, in the mutation's transaction: votes and comments move, the
// duplicate's author becomes a voter and a contributor, the duplicate
// becomes MERGED. Who may merge is the feedback policy's to decide: the
// duplicate is changed as triage changes feedback, which only editors may.
func mergeFeedback(ctx context.Context, client *ent.Client, dialectName string, duplicateID, originalID gid.ID) (*ent.Feedback, error) {
	if duplicateID == originalID {
		return nil, badInput("original", "feedback cannot be merged into itself")
	}
	dup, orig, err := lockPair(ctx, client, dialectName, duplicateID, originalID)
	if err != nil {
		return nil, err
	}
	switch {
	case dup.PrototypeID != orig.PrototypeID:
		return nil, badInput("original", "feedback can be merged only into feedback on the same prototype")
	case dup.Status == feedback.StatusMERGED:
		return nil, badInput("duplicate", "feedback %s is merged already, into %s", dup.ID, dup.MergedIntoID)
	case orig.Status == feedback.StatusMERGED:
		return nil, badInput("original", "feedback %s was merged into %s: merge into that one", orig.ID, orig.MergedIntoID)
	case orig.Status == feedback.StatusRETRACTED:
		return nil, badInput("original", "feedback %s was retracted by the person who left it", orig.ID)
	}
	// First, so that a caller who may not merge changes nothing.
	err = client.Feedback.UpdateOne(dup).
		SetStatus(feedback.StatusMERGED).
		SetMergedIntoID(orig.ID).
		Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("merge feedback %s: %w", dup.ID, err)
	}
	// What was merged into the duplicate goes with it, so that every
	// contributor is one step from the original.
	if _, err := client.Feedback.Update().Where(feedback.MergedIntoID(dup.ID)).SetMergedIntoID(orig.ID).Save(ctx); err != nil {
		return nil, fmt.Errorf("merge feedback %s: move its merged duplicates: %w", dup.ID, err)
	}
	moved, err := moveVotes(ctx, client, dup, orig)
	if err != nil {
		return nil, err
	}
	// Votes that arrive by a merge cross vote thresholds as any others.
	if err := alertVotes(ctx, client, orig, moved); err != nil {
		return nil, fmt.Errorf("merge feedback %s: %w", dup.ID, err)
	}
	comments, err := client.Comment.Update().Where(comment.FeedbackID(dup.ID)).SetFeedbackID(orig.ID).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("merge feedback %s: move comments: %w", dup.ID, err)
	}
	record(ctx, change{
		kind:      event.KindFEEDBACK_MERGED,
		workspace: dup.WorkspaceID,
		prototype: dup.PrototypeID,
		subject:   dup.ID,
		payload: map[string]any{
			"into": orig.ID.String(), "from": string(dup.Status), "votes": moved, "comments": comments,
		},
	})
	return reloadOneFeedback(ctx, client, orig.ID)
}

// checkNotMerged refuses to add to a merged duplicate what belongs on the
// feedback it was merged into: votes and comments.
func checkNotMerged(fb *ent.Feedback, field string) error {
	if fb.Status == feedback.StatusMERGED && fb.MergedIntoID != nil {
		return badInput(field, "feedback %s was merged into %s: vote and comment there", fb.ID, *fb.MergedIntoID)
	}
	return nil
}

// lockPair loads and locks two pieces of feedback, in ID order so that two
// merges of the same pair cannot deadlock.
func lockPair(ctx context.Context, client *ent.Client, dialectName string, a, b gid.ID) (*ent.Feedback, *ent.Feedback, error) {
	loaded, err := locked(client.Feedback.Query().
		Where(feedback.IDIn(a, b)).
		Order(ent.Asc(feedback.FieldID)), dialectName).
		All(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("load feedback: %w", err)
	}
	var fa, fb *ent.Feedback
	for _, f := range loaded {
		switch f.ID {
		case a:
			fa = f
		case b:
			fb = f
		}
	}
	switch {
	case fa == nil:
		return nil, nil, &Error{Code: CodeNotFound, Message: "duplicate not found", Field: "duplicate"}
	case fb == nil:
		return nil, nil, &Error{Code: CodeNotFound, Message: "original not found", Field: "original"}
	}
	return fa, fb, nil
}

// moveVotes moves the duplicate's votes to the original, but for those of
// voters who voted for both, which are dropped: everyone counts once. The
// duplicate's author, who said the same, gets a vote too. It sets both
// vote counts from the votes and returns how many votes the original
// gained.
func moveVotes(ctx context.Context, client *ent.Client, dup, orig *ent.Feedback) (int, error) {
	onOriginal := func(s *sql.Selector) {
		t := sql.Table(vote.Table).As("original_votes")
		s.Where(sql.In(s.C(vote.FieldParticipantID),
			sql.Select(t.C(vote.FieldParticipantID)).From(t).Where(sql.EQ(t.C(vote.FieldFeedbackID), orig.ID))))
	}
	if _, err := client.Vote.Delete().Where(vote.FeedbackID(dup.ID), onOriginal).Exec(ctx); err != nil {
		return 0, fmt.Errorf("merge feedback %s: drop double votes: %w", dup.ID, err)
	}
	if _, err := client.Vote.Update().Where(vote.FeedbackID(dup.ID)).SetFeedbackID(orig.ID).Save(ctx); err != nil {
		return 0, fmt.Errorf("merge feedback %s: move votes: %w", dup.ID, err)
	}
	if dup.AuthorID != orig.AuthorID {
		err := client.Vote.Create().
			SetWorkspaceID(orig.WorkspaceID).
			SetPrototypeID(orig.PrototypeID).
			SetFeedbackID(orig.ID).
			SetParticipantID(dup.AuthorID).
			OnConflictColumns(vote.FieldFeedbackID, vote.FieldParticipantID).
			DoNothing().
			Exec(system(ctx)) // the author's vote is the merge's doing, not theirs
		if err != nil && !conflictSkipped(err) {
			return 0, fmt.Errorf("merge feedback %s: count its author's vote: %w", dup.ID, err)
		}
	}
	n, err := client.Vote.Query().Where(vote.FeedbackID(orig.ID)).Count(system(ctx))
	if err != nil {
		return 0, fmt.Errorf("merge feedback %s: count votes: %w", dup.ID, err)
	}
	// The counts are the server's bookkeeping, as in countVotes.
	if err := client.Feedback.UpdateOneID(orig.ID).SetVoteCount(n).Exec(system(ctx)); err != nil {
		return 0, fmt.Errorf("merge feedback %s: count votes: %w", dup.ID, err)
	}
	if err := client.Feedback.UpdateOneID(dup.ID).SetVoteCount(0).Exec(system(ctx)); err != nil {
		return 0, fmt.Errorf("merge feedback %s: count votes: %w", dup.ID, err)
	}
	return n - orig.VoteCount, nil
}
