package schema_test

import (
	"testing"

	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
)

// TestWorkspaceRowsAreIndexedByWorkspace holds the schemas whose
// workspaceMixin is covered (no index of its own) to what covered means:
// an index of theirs starts with workspace_id. Every row is looked up and
// authorized by its workspace, and PostgreSQL does not index a foreign
// key by itself: without one, a workspace's deletion would scan the table.
func TestWorkspaceRowsAreIndexedByWorkspace(t *testing.T) {
	g, err := entc.LoadGraph(".", &gen.Config{})
	if err != nil {
		t.Fatalf("load ent schema: %v", err)
	}
	seen := 0
	for _, n := range g.Nodes {
		if !hasField(n, "workspace_id") {
			continue
		}
		seen++
		indexed := false
		for _, idx := range n.Indexes {
			if len(idx.Columns) > 0 && idx.Columns[0] == "workspace_id" {
				indexed = true
			}
		}
		if !indexed {
			t.Errorf("%s has a workspace_id but no index that starts with it", n.Name)
		}
	}
	if seen == 0 {
		t.Fatal("no schema with a workspace_id found: is the schema path right?")
	}
}

func hasField(n *gen.Type, name string) bool {
	for _, f := range n.Fields {
		if f.Name == name {
			return true
		}
	}
	return false
}
