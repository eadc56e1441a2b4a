package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server/servertest"
)

const createIterationMutation = `mutation($p: ID!, $in: CreateIterationInput!) {
	createIteration(prototypeID: $p, input: $in) {
		id number title changelog url status publishedAt prototype { id }
	}
}`

const updateIterationMutation = `mutation($id: ID!, $in: UpdateIterationInput!) {
	updateIteration(id: $id, input: $in) { id number title changelog url status }
}`

const publishIterationMutation = `mutation($id: ID!) {
	publishIteration(id: $id) { id number status publishedAt }
}`

const retireIterationMutation = `mutation($id: ID!) {
	retireIteration(id: $id) { id number status }
}`

type iterationData struct {
	ID          string
	Number      *int
	Title       string
	Changelog   string
	URL         *string
	Status      string
	PublishedAt *string
	Prototype   struct{ ID string }
}

func TestCreateIteration(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		p := loop.Prototype
		maker := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "MAKER")
		viewer := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "VIEWER")
		outsider := s.NewUser(t, "Otto")
		valid := func(change vars) vars {
			in := vars{"title": "Bigger buttons", "changelog": "Buttons are twice the size.", "url": "https://example.test/v2"}
			for k, v := range change {
				in[k] = v
			}
			return in
		}

		t.Run("drafts an unnumbered iteration and records ITERATION_CREATED", func(t *testing.T) {
			mark := lastSeq(t, s, maker.Token, p.ID)
			var got struct{ CreateIteration iterationData }
			decode(t, s, maker.Token, createIterationMutation, vars{"p": p.ID, "in": valid(nil)}, &got)
			it := got.CreateIteration
			if it.Title != "Bigger buttons" || it.Changelog != "Buttons are twice the size." || it.URL == nil || *it.URL != "https://example.test/v2" {
				t.Errorf("created %+v, want the input's fields", it)
			}
			if it.Status != "DRAFT" || it.Number != nil || it.PublishedAt != nil || it.Prototype.ID != p.ID {
				t.Errorf("created status %s number %v publishedAt %v prototype %s, want an unpublished DRAFT of %s",
					it.Status, it.Number, it.PublishedAt, it.Prototype.ID, p.ID)
			}
			expectEvents(t, s, maker.Token, p.ID, mark, "ITERATION_CREATED")
		})

		for _, tc := range []struct {
			name, token, prototype, code, field string
			change                              vars
		}{
			{"refuses an empty title", maker.Token, p.ID, "BAD_USER_INPUT", "title", vars{"title": ""}},
			{"refuses a title over 200 characters", maker.Token, p.ID, "BAD_USER_INPUT", "title", vars{"title": long(201)}},
			{"refuses a changelog over 10,000 characters", maker.Token, p.ID, "BAD_USER_INPUT", "changelog", vars{"changelog": long(10_001)}},
			{"refuses a URL that is not http or https", maker.Token, p.ID, "BAD_USER_INPUT", "url", vars{"url": "ftp://example.test/v2"}},
			{"refuses a URL without a host", maker.Token, p.ID, "BAD_USER_INPUT", "url", vars{"url": "not a url"}},
			{"refuses a malformed prototype ID", maker.Token, "pro_!", "BAD_USER_INPUT", "", nil},
			{"does not know a prototype that does not exist", maker.Token, gid.New(gid.Prototype).String(), "NOT_FOUND", "", nil},
			{"does not let a viewer draft one", viewer.Token, p.ID, "FORBIDDEN", "", nil},
			{"hides the prototype from a non-member", outsider.Token, p.ID, "NOT_FOUND", "", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s.Do(t, tc.token, createIterationMutation, vars{"p": tc.prototype, "in": valid(tc.change)}).
					RequireError(t, tc.code, tc.field)
			})
		}
	})
}

func TestUpdateIteration(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		p := loop.Prototype
		viewer := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "VIEWER")
		draft := s.NewIteration(t, loop.Owner.Token, p.ID)

		t.Run("changes the title, changelog and URL and records ITERATION_UPDATED", func(t *testing.T) {
			mark := lastSeq(t, s, loop.Owner.Token, p.ID)
			var got struct{ UpdateIteration iterationData }
			decode(t, s, loop.Owner.Token, updateIterationMutation, vars{"id": draft.ID, "in": vars{
				"title": "Even bigger buttons", "changelog": "Thrice the size.", "url": "http://example.test/v3",
			}}, &got)
			it := got.UpdateIteration
			if it.Title != "Even bigger buttons" || it.Changelog != "Thrice the size." || it.URL == nil || *it.URL != "http://example.test/v3" {
				t.Errorf("updated to %+v, want the new fields", it)
			}
			expectEvents(t, s, loop.Owner.Token, p.ID, mark, "ITERATION_UPDATED")
		})

		t.Run("clears the URL", func(t *testing.T) {
			var got struct{ UpdateIteration iterationData }
			decode(t, s, loop.Owner.Token, updateIterationMutation, vars{"id": draft.ID, "in": vars{"clearURL": true}}, &got)
			if got.UpdateIteration.URL != nil {
				t.Errorf("url = %q, want null", *got.UpdateIteration.URL)
			}
		})

		for _, tc := range []struct {
			name, token, code, field string
			in                       vars
		}{
			{"refuses a bad URL", loop.Owner.Token, "BAD_USER_INPUT", "url", vars{"url": "javascript:alert(1)"}},
			{"refuses an empty title", loop.Owner.Token, "BAD_USER_INPUT", "title", vars{"title": ""}},
			{"does not let a viewer change it", viewer.Token, "FORBIDDEN", "", vars{"title": "Viewer's"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s.Do(t, tc.token, updateIterationMutation, vars{"id": draft.ID, "in": tc.in}).RequireError(t, tc.code, tc.field)
			})
		}
	})
}

func TestPublishIteration(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		owner := s.NewUser(t, "Olive")
		ws := s.NewWorkspace(t, owner.Token)
		viewer := s.NewMember(t, owner.Token, ws.ID, "VIEWER")
		p := s.NewPrototype(t, owner.Token, ws.ID)
		publish := func(token, id string) *servertest.Response {
			return s.Do(t, token, publishIterationMutation, vars{"id": id})
		}

		var published []string
		t.Run("numbers iterations 1, 2, 3 in the order they are published", func(t *testing.T) {
			drafts := []string{
				s.NewIteration(t, owner.Token, p.ID).ID,
				s.NewIteration(t, owner.Token, p.ID).ID,
				s.NewIteration(t, owner.Token, p.ID).ID,
			}
			// Publish out of creation order: numbers follow publication.
			for i, id := range []string{drafts[2], drafts[0], drafts[1]} {
				mark := lastSeq(t, s, owner.Token, p.ID)
				var got struct{ PublishIteration iterationData }
				publish(owner.Token, id).RequireOK(t).Decode(t, &got)
				it := got.PublishIteration
				if it.Number == nil || *it.Number != i+1 || it.Status != "PUBLISHED" || it.PublishedAt == nil {
					t.Fatalf("publication %d: number %v status %s publishedAt %v, want number %d, PUBLISHED, a time",
						i+1, it.Number, it.Status, it.PublishedAt, i+1)
				}
				events := expectEvents(t, s, owner.Token, p.ID, mark, "ITERATION_PUBLISHED")
				if events[0].Subject == nil || events[0].Subject.ID != id {
					t.Errorf("ITERATION_PUBLISHED is about %+v, want %s", events[0].Subject, id)
				}
				published = append(published, id)
			}
		})

		t.Run("numbers each prototype's iterations on their own", func(t *testing.T) {
			other := s.NewPrototype(t, owner.Token, ws.ID)
			if n := s.NewPublishedIteration(t, owner.Token, other.ID).Number; n != 1 {
				t.Errorf("another prototype's first iteration has number %d, want 1", n)
			}
		})

		t.Run("refuses to publish an iteration twice", func(t *testing.T) {
			if len(published) == 0 {
				t.Skip("nothing was published")
			}
			publish(owner.Token, published[0]).RequireError(t, "BAD_USER_INPUT", "")
			var got struct{ Node iterationData }
			decode(t, s, owner.Token, `query($id: ID!) { node(id: $id) { ... on Iteration { number status } } }`,
				vars{"id": published[0]}, &got)
			if got.Node.Number == nil || *got.Node.Number != 1 {
				t.Errorf("number after publishing again = %v, want 1 still", got.Node.Number)
			}
		})

		t.Run("refuses to publish a retired iteration", func(t *testing.T) {
			it := s.NewPublishedIteration(t, owner.Token, p.ID)
			s.Do(t, owner.Token, retireIterationMutation, vars{"id": it.ID}).RequireOK(t)
			publish(owner.Token, it.ID).RequireError(t, "BAD_USER_INPUT", "")
		})

		t.Run("does not let a viewer publish", func(t *testing.T) {
			publish(viewer.Token, s.NewIteration(t, owner.Token, p.ID).ID).RequireError(t, "FORBIDDEN", "")
		})
	})
}

func TestRetireIteration(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		p := loop.Prototype
		viewer := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "VIEWER")
		retire := func(token, id string) *servertest.Response {
			return s.Do(t, token, retireIterationMutation, vars{"id": id})
		}

		t.Run("retires a published iteration, keeping its number, and records ITERATION_RETIRED", func(t *testing.T) {
			mark := lastSeq(t, s, loop.Owner.Token, p.ID)
			var got struct{ RetireIteration iterationData }
			retire(loop.Owner.Token, loop.Iteration.ID).RequireOK(t).Decode(t, &got)
			if it := got.RetireIteration; it.Status != "RETIRED" || it.Number == nil || *it.Number != 1 {
				t.Errorf("retired iteration: status %s number %v, want RETIRED, 1", it.Status, it.Number)
			}
			expectEvents(t, s, loop.Owner.Token, p.ID, mark, "ITERATION_RETIRED")
		})

		t.Run("refuses to retire an iteration twice", func(t *testing.T) {
			retire(loop.Owner.Token, loop.Iteration.ID).RequireError(t, "BAD_USER_INPUT", "")
		})

		t.Run("refuses to retire a draft", func(t *testing.T) {
			retire(loop.Owner.Token, s.NewIteration(t, loop.Owner.Token, p.ID).ID).RequireError(t, "BAD_USER_INPUT", "")
		})

		t.Run("takes no new feedback or trials once retired", func(t *testing.T) {
			s.Do(t, loop.Owner.Token, leaveFeedbackMutation, vars{"in": vars{"iterationID": loop.Iteration.ID, "kind": "BUG", "body": "Late"}}).
				RequireError(t, "BAD_USER_INPUT", "")
			s.Do(t, loop.Owner.Token, startTrialMutation, vars{"in": vars{"iterationID": loop.Iteration.ID}}).
				RequireError(t, "BAD_USER_INPUT", "")
		})

		t.Run("does not let a viewer retire one", func(t *testing.T) {
			it := s.NewPublishedIteration(t, loop.Owner.Token, p.ID)
			retire(viewer.Token, it.ID).RequireError(t, "FORBIDDEN", "")
		})
	})
}

// TestPublishIterationConcurrently publishes 20 drafts of one prototype
// at once: each must get its own number, and together exactly 1 to 20.
func TestPublishIterationConcurrently(t *testing.T) {
	const n = 20
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		owner := s.NewUser(t, "Olive")
		ws := s.NewWorkspace(t, owner.Token)
		p := s.NewPrototype(t, owner.Token, ws.ID)
		drafts := make([]string, n)
		for i := range drafts {
			drafts[i] = s.NewIteration(t, owner.Token, p.ID).ID
		}
		mark := lastSeq(t, s, owner.Token, p.ID)

		numbers := make([]int, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, id := range drafts {
			wg.Go(func() {
				r, err := s.Post(context.Background(), owner.Token, publishIterationMutation, vars{"id": id})
				if err != nil {
					errs[i] = err
					return
				}
				if err := r.Err(); err != nil {
					errs[i] = err
					return
				}
				var got struct{ PublishIteration iterationData }
				if err := json.Unmarshal(r.Data, &got); err != nil || got.PublishIteration.Number == nil {
					errs[i] = fmt.Errorf("data %s: %v", r.Data, err)
					return
				}
				numbers[i] = *got.PublishIteration.Number
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("publish %s: %v", drafts[i], err)
			}
		}
		if t.Failed() {
			return
		}
		slices.Sort(numbers)
		want := make([]int, n)
		for i := range want {
			want[i] = i + 1
		}
		if !slices.Equal(numbers, want) {
			t.Errorf("numbers = %v, want 1 to %d once each", numbers, n)
		}
		events := timeline(t, s, owner.Token, p.ID, vars{"where": vars{"seqGT": mark}})
		if got := eventKinds(events); len(got) != n || slices.ContainsFunc(got, func(k string) bool { return k != "ITERATION_PUBLISHED" }) {
			t.Errorf("events after the publications: %v, want %d ITERATION_PUBLISHED", got, n)
		}
	})
}
