package schema_test

import (
	"os"
	"slices"
	"testing"

	"github.com/protoloop/protoloop/ent/schema"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// TestEventResolverColumnsListEveryResolverField: Event's ResolverColumns
// names exactly the fields schema/event.graphqls adds to Event. A field
// added there without an entry would select every column (safe, but the
// narrowing lost); an entry whose field is gone is stale. Either way,
// whoever adds or removes a resolver field must decide what it reads.
func TestEventResolverColumnsListEveryResolverField(t *testing.T) {
	src, err := os.ReadFile("../../schema/event.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := parser.ParseSchema(&ast.Source{Name: "event.graphqls", Input: string(src)})
	if err != nil {
		t.Fatal(err)
	}
	var added []string
	for _, ext := range doc.Extensions {
		if ext.Name == "Event" {
			for _, f := range ext.Fields {
				added = append(added, f.Name)
			}
		}
	}
	var listed []string
	for _, a := range (schema.Event{}).Annotations() {
		if rc, ok := a.(schema.ResolverColumns); ok {
			for name := range rc {
				listed = append(listed, name)
			}
		}
	}
	slices.Sort(added)
	slices.Sort(listed)
	if len(added) == 0 || !slices.Equal(added, listed) {
		t.Errorf("schema/event.graphqls adds %v to Event; its ResolverColumns lists %v", added, listed)
	}
}
