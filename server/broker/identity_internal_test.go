package broker

import (
	"slices"
	"testing"

	"github.com/protoloop/protoloop/ent/schema/gid"
)

func TestIdentityPayloadsCarryTheirOrigin(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string
		origin  string
		changed []gid.ID
		ok      bool
	}{
		{"IDs", "s1:" + IdentityPayload("a1", []gid.ID{7, 42}), "a1", []gid.ID{7, 42}, true},
		{"anything", "s1:" + IdentityPayload("a1", nil), "a1", nil, true},
		{"too many to name", "s1:" + IdentityPayload("a1", make([]gid.ID, maxIdentityIDs+1)), "a1", nil, true},
		{"another schema's", "s2:" + IdentityPayload("a1", []gid.ID{7}), "", nil, false},
		{"without an origin: anything", "s1:7,42", "", nil, true},
		{"unreadable: anything", "garbage", "", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			origin, changed, ok := parseIdentityPayload("s1", tc.payload)
			if origin != tc.origin || !slices.Equal(changed, tc.changed) || ok != tc.ok {
				t.Errorf("parse %q = %q %v %v, want %q %v %v", tc.payload, origin, changed, ok, tc.origin, tc.changed, tc.ok)
			}
		})
	}
}
