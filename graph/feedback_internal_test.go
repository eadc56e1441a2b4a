package graph

import (
	"errors"
	"testing"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/feedback"
	"github.com/protoloop/protoloop/ent/iteration"
)

func TestCheckTriage(t *testing.T) {
	allowed := map[[2]feedback.Status]bool{}
	for _, step := range [][2]feedback.Status{
		{feedback.StatusOPEN, feedback.StatusACKNOWLEDGED},
		{feedback.StatusOPEN, feedback.StatusPLANNED},
		{feedback.StatusOPEN, feedback.StatusDECLINED},
		{feedback.StatusACKNOWLEDGED, feedback.StatusPLANNED},
		{feedback.StatusACKNOWLEDGED, feedback.StatusDECLINED},
		{feedback.StatusACKNOWLEDGED, feedback.StatusOPEN},
		{feedback.StatusPLANNED, feedback.StatusACKNOWLEDGED},
		{feedback.StatusPLANNED, feedback.StatusDECLINED},
		{feedback.StatusPLANNED, feedback.StatusOPEN},
		{feedback.StatusDECLINED, feedback.StatusOPEN},
		{feedback.StatusADDRESSED, feedback.StatusOPEN}, // not fixed after all
		{feedback.StatusVERIFIED, feedback.StatusOPEN},  // regressed
	} {
		allowed[step] = true
	}
	statuses := []feedback.Status{
		feedback.StatusOPEN, feedback.StatusACKNOWLEDGED, feedback.StatusPLANNED,
		feedback.StatusADDRESSED, feedback.StatusVERIFIED, feedback.StatusDECLINED,
	}
	for _, from := range statuses {
		for _, to := range statuses {
			err := checkTriage(from, to)
			if allowed[[2]feedback.Status{from, to}] {
				if err != nil {
					t.Errorf("%s → %s is refused (%v), want it allowed", from, to, err)
				}
				continue
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeBadUserInput || e.Field != "status" {
				t.Errorf("%s → %s gives %v, want BAD_USER_INPUT on status", from, to, err)
			}
		}
	}
}

func TestLaterThan(t *testing.T) {
	num := func(n int) *int { return &n }
	for _, tc := range []struct {
		name   string
		target *ent.Iteration
		leftOn *int
		want   bool
	}{
		{"a draft comes after any published iteration", &ent.Iteration{Status: iteration.StatusDRAFT}, num(7), true},
		{"a higher number comes after", &ent.Iteration{Status: iteration.StatusPUBLISHED, Number: num(3)}, num(2), true},
		{"the same number does not", &ent.Iteration{Status: iteration.StatusPUBLISHED, Number: num(2)}, num(2), false},
		{"a lower number does not", &ent.Iteration{Status: iteration.StatusPUBLISHED, Number: num(1)}, num(2), false},
		{"an unnumbered source cannot be ordered", &ent.Iteration{Status: iteration.StatusPUBLISHED, Number: num(1)}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := laterThan(tc.target, tc.leftOn); got != tc.want {
				t.Errorf("laterThan = %v, want %v", got, tc.want)
			}
		})
	}
}
