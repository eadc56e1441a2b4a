package broker

import (
	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/rule"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// SubscriberWants reports whether the tailer hands e to a subscriber of
// topic (workspace, or one of its prototypes) with identity who.
func SubscriberWants(who *viewer.Identity, workspace, topic gid.ID, e *ent.Event) bool {
	s := &subscriber{workspace: workspace, topic: topic, who: who}
	s.rights = rightsIn(who, s)
	return s.wants(e, rule.AudienceOf(e.Kind))
}
