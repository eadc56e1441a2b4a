package graph

import (
	"errors"
	"strings"
	"testing"

	"github.com/protoloop/protoloop/ent/prototype"
)

// The contract's moves, written out again rather than read from
// prototypeMoves, so that a change to the table has to change this too.
func TestCheckPrototypeMove(t *testing.T) {
	allowed := map[[2]prototype.Status]bool{
		{prototype.StatusDRAFT, prototype.StatusTESTING}:   true,
		{prototype.StatusTESTING, prototype.StatusADOPTED}: true,
		{prototype.StatusTESTING, prototype.StatusSHELVED}: true,
		{prototype.StatusSHELVED, prototype.StatusTESTING}: true,
	}
	statuses := []prototype.Status{prototype.StatusDRAFT, prototype.StatusTESTING, prototype.StatusADOPTED, prototype.StatusSHELVED}
	for _, from := range statuses {
		for _, to := range statuses {
			err := checkPrototypeMove(from, to)
			if allowed[[2]prototype.Status{from, to}] {
				if err != nil {
					t.Errorf("%s → %s is refused (%v), want it allowed", from, to, err)
				}
				continue
			}
			var appErr *Error
			if !errors.As(err, &appErr) || appErr.Code != CodeBadUserInput || appErr.Field != "status" {
				t.Errorf("%s → %s gives %#v, want BAD_USER_INPUT on status", from, to, err)
				continue
			}
			for _, next := range prototypeMoves[from] {
				if !strings.Contains(appErr.Message, string(next)) {
					t.Errorf("%s → %s is refused with %q, which does not name the allowed move to %s", from, to, appErr.Message, next)
				}
			}
		}
	}
}
