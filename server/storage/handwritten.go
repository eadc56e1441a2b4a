package storage

import (
	"slices"
	"strings"

	atlasschema "ariga.io/atlas/sql/schema"
	"entgo.io/ent/dialect/sql/schema"
)

// HandWrittenPrefix starts the names of the indexes that hand-written
// migrations create, for what the ent schema cannot declare: expression
// indexes (migrations/postgres/*_search.sql, see docs/search.md). A
// hand-written migration is added as a file with a version after the last
// one; `go run migrate_gen.go -rehash` then writes atlas.sum.
const HandWrittenPrefix = "search_"

// KeepHandWritten is a diff hook that leaves hand-written indexes alone:
// compared with the ent schema, which does not know them, they would
// otherwise be dropped. The migration generator diffs with it, and so do
// the tests that check the migrations build the ent schema.
func KeepHandWritten(next schema.Differ) schema.Differ {
	return schema.DiffFunc(func(current, desired *atlasschema.Schema) ([]atlasschema.Change, error) {
		changes, err := next.Diff(current, desired)
		if err != nil {
			return nil, err
		}
		kept := changes[:0]
		for _, c := range changes {
			if m, ok := c.(*atlasschema.ModifyTable); ok {
				m.Changes = slices.DeleteFunc(m.Changes, droppedHandWritten)
				if len(m.Changes) == 0 {
					continue
				}
			}
			kept = append(kept, c)
		}
		return kept, nil
	})
}

func droppedHandWritten(c atlasschema.Change) bool {
	d, ok := c.(*atlasschema.DropIndex)
	return ok && strings.HasPrefix(d.I.Name, HandWrittenPrefix)
}
