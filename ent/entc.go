//go:build ignore

// entc generates the ent client and, through entgql, the GraphQL schema
// for it (schema/ent.graphqls). It runs by
// `go generate ./...`, before gqlgen.
package main

import (
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
)

func main() {
	// Work from the repository root, where gqlgen.yml's paths start: entgql
	// tells its own output from hand-written SDL by comparing those paths.
	if err := os.Chdir(".."); err != nil {
		log.Fatalf("entering the repository root: %v", err)
	}
	ex, err := entgql.NewExtension(
		entgql.WithConfigPath("gqlgen.yml"),
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("schema/ent.graphqls"),
		entgql.WithWhereInputs(true),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	patched, err := patchedTemplates()
	if err != nil {
		log.Fatalf("patching ent's and entgql's templates: %v", err)
	}
	err = entc.Generate("./ent/schema", &gen.Config{
		Features: []gen.Feature{
			gen.FeaturePrivacy,
			gen.FeatureEntQL,
			gen.FeatureUpsert,
			gen.FeatureLock,
			gen.FeatureExecQuery,
			gen.FeatureModifier,
			gen.FeatureVersionedMigration,
		},
	}, entc.Extensions(ex), withTemplates(patched...))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}

// withTemplates adds templates after the extensions', so that a template
// of the same name replaces theirs (and ent's own).
func withTemplates(ts ...*gen.Template) entc.Option {
	return func(cfg *gen.Config) error {
		cfg.Templates = append(cfg.Templates, ts...)
		return nil
	}
}

// templatePatch replaces one piece of an upstream template. Each must
// match exactly once, so that a new ent or entgql whose templates moved
// on fails the generation instead of silently losing the patch.
type templatePatch struct{ old, new string }

// patchedTemplates returns ent's query and decoding templates and
// entgql's collection, enum and pagination templates, each with a few
// lines changed:
//
//   - on PostgreSQL a nested connection page reads each parent's first
//     children through a LATERAL subquery instead of numbering every
//     child with a window, and many keys go as one array
//     (ent/schema/pagesql, docs/performance.md "Nested pages as LATERAL
//     joins");
//   - field collection selects the columns that hand-written resolvers
//     read (schema.ResolverColumns) instead of every column, and counts a
//     nested connection's rows for totalCount only, not for a pageInfo
//     computed from the page's own nodes (docs/performance.md "The
//     timeline page reads what it shows");
//   - a field with a schema.ResolverJoins annotation has its join
//     (ent/schema/joins) modify the page's query, so that its resolver
//     finds what it shows in the page's rows (docs/performance.md
//     "Twelfth round: a timeline's actors in its page");
//   - a query scans its rows into one block of values, not into new
//     values for each column of each row (docs/performance.md "Rows
//     scanned into one block per query").
//   - an enum writes its quoted name into a bytes.Buffer without
//     strconv.Quote's copies (docs/performance.md "Eighth round: the
//     executor's scalars");
//   - a page's edges are allocated in one block, not one by one
//     (docs/performance.md "Eleventh round: the timeline's actors,
//     measured").
//
// The upstream text is read from the module cache, at the versions go.mod
// pins, and patched rather than copied, so that the fork is the handful
// of lines below.
func patchedTemplates() ([]*gen.Template, error) {
	query, err := patchTemplate("entgo.io/ent", "entc/gen/template/dialect/sql/query.tmpl", gen.NewTemplate("pagesql/query"),
		// The loader of a one-to-many edge passes the parents' keys to
		// the children's query, where LimitPerParent finds them.
		templatePatch{
			old: "\t\t\t}))\n\t\t\tneighbors, err := query.All(ctx)",
			new: "\t\t\t}))\n\t\t\tneighbors, err := query.All(pagesql.WithParentKeys(ctx, {{ $.Package }}.{{ $e.ColumnConstant }}, fks))",
		},
		// Eager loading asks for the parents' keys (one-to-many) or the
		// edges' targets (many-to-one) as one array on PostgreSQL.
		templatePatch{
			old: "s.Where(sql.InValues(s.C({{ $.Package }}.{{ $e.ColumnConstant }}), fks...))",
			new: "s.Where(pagesql.ParentIn(s, {{ $.Package }}.{{ $e.ColumnConstant }}, fks))",
		},
		templatePatch{
			old: "query.Where({{ $e.Type.Package }}.IDIn(ids...))",
			new: "query.Where(predicate.{{ $e.Type.Name }}(func(s *sql.Selector) {\n\t\t\t\ts.Where(pagesql.In(s, s.C({{ $e.Type.Package }}.{{ $e.Type.ID.Constant }}), ids))\n\t\t\t}))",
		},
		// A query's rows are scanned, one after the other, into one
		// block of values, listed in one slice (scanValuesNew).
		templatePatch{
			old: "\t_spec.ScanValues = func(columns []string) ([]any, error) {\n\t\treturn (*{{ $.Name }}).scanValues(nil, columns)\n\t}",
			new: "\tscan, values := new(scan{{ $.Name }}), []any(nil)\n\t_spec.ScanValues = func(columns []string) (_ []any, err error) {\n\t\tvalues, err = scan.values(values, columns)\n\t\treturn values, err\n\t}",
		},
	)
	if err != nil {
		return nil, err
	}
	collection, err := patchTemplate("entgo.io/contrib", "entgql/template/collection.tmpl", gen.NewTemplate("pagesql/collection").Funcs(entgql.TemplateFuncs),
		templatePatch{
			old: "modify := entgql.LimitPerRow({{ $fk }}, limit, pager.orderExpr(query))",
			new: "modify := {{ if $e.M2M }}entgql.LimitPerRow{{ else }}pagesql.LimitPerParent{{ end }}({{ $fk }}, limit, pager.orderExpr(query))",
		},
		// totalCount counts the children of the parents' keys, as one
		// array on PostgreSQL.
		templatePatch{
			old: "s.Where(sql.InValues(s.C({{ $fk }}), ids...))",
			new: "s.Where(pagesql.In(s, s.C({{ $fk }}), ids))",
		},
		// A page's pageInfo is computed from its nodes (the connection's
		// build) and needs no count of them, unless the nodes are not
		// loaded.
		templatePatch{
			old: "\t\t\t\t\t\t\tif hasCollectedField(ctx, append(path, totalCountField)...) || hasCollectedField(ctx, append(path, pageInfoField)...) {",
			new: "\t\t\t\t\t\t\tnoNodes := ignoredEdges || (args.first != nil && *args.first == 0) || (args.last != nil && *args.last == 0)\n" +
				"\t\t\t\t\t\t\tif hasCollectedField(ctx, append(path, totalCountField)...) || (noNodes && hasCollectedField(ctx, append(path, pageInfoField)...)) {",
		},
		templatePatch{
			old: "if ignoredEdges || (args.first != nil && *args.first == 0) || (args.last != nil && *args.last == 0) {",
			new: "if noNodes {",
		},
		// The fields that resolvers in schema/*.graphqls add to a type,
		// with the ent fields they read (the type's ResolverColumns
		// annotation, ent/schema/collect.go); a name that is no field of
		// the type fails the generation.
		templatePatch{
			old: "\t\t\t\t{{- end }}\n\t\t\t\t{{- if $fields }}\n",
			new: "\t\t\t\t{{- end }}\n" + resolverColumnsCases + "\t\t\t\t{{- if $fields }}\n",
		},
	)
	if err != nil {
		return nil, err
	}
	decode, err := patchTemplate("entgo.io/ent", "entc/gen/template/dialect/sql/decode.tmpl", gen.NewTemplate("pagesql/decode"),
		templatePatch{old: scanValuesOld, new: scanValuesNew},
		// The columns a type's joins add (ResolverJoins) are scanned
		// into the block's joins.Values, not left to ent's reflection on
		// the rows' column types (SQLite's driver reports no scan type
		// for the joined name, and ent's ScanTypeOf panicked on it), and
		// copied into the entity's own, not into its map of values
		// selected by modifiers: no allocation per row.
		templatePatch{
			old: "\t\t\tdefault:\n\t\t\t\t{{- /* In case of unknown column that was added by a modifier, predicate, etc., fallback to any. */}}\n\t\t\t\tvalues[i] = new(sql.UnknownType)\n",
			new: "\t\t\tdefault:\n\t\t\t\t{{- if $.Annotations.ResolverJoins }}\n\t\t\t\tif v := r.joined.Dest(columns[i]); v != nil {\n\t\t\t\t\tvalues[i] = v\n\t\t\t\t\tcontinue\n\t\t\t\t}\n\t\t\t\t{{- end }}\n\t\t\t\tvalues[i] = new(sql.UnknownType)\n",
		},
		templatePatch{
			old: "\t\t\t{{ $receiver }}.selectValues.Set(columns[i], values[i])\n",
			new: "\t\t\t{{- if $.Annotations.ResolverJoins }}\n\t\t\tif {{ $receiver }}.joined.Assign(columns[i], values[i]) {\n\t\t\t\tcontinue\n\t\t\t}\n\t\t\t{{- end }}\n\t\t\t{{ $receiver }}.selectValues.Set(columns[i], values[i])\n",
		},
	)
	if err != nil {
		return nil, err
	}
	enum, err := patchTemplate("entgo.io/contrib", "entgql/template/enum.tmpl", gen.NewTemplate("marshal/enum"),
		// An enum writes its quoted name into the executor's buffer
		// rather than through strconv.Quote, whose buffer and string
		// were two allocations per enum value of a response (a
		// feedback's kind, an event's); AppendQuote writes the same
		// bytes. Other writers get Quote's as before.
		templatePatch{
			old: "\t\t\tio.WriteString(w, strconv.Quote(e.String()))\n",
			new: "\t\t\tif b, ok := w.(*bytes.Buffer); ok {\n\t\t\t\tb.Write(strconv.AppendQuote(b.AvailableBuffer(), e.String()))\n\t\t\t\treturn\n\t\t\t}\n\t\t\tio.WriteString(w, strconv.Quote(e.String()))\n",
		},
		templatePatch{
			old: "\t\"github.com/99designs/gqlgen/graphql\"\n",
			new: "\t\"bytes\"\n\t\"github.com/99designs/gqlgen/graphql\"\n",
		},
	)
	if err != nil {
		return nil, err
	}
	pagination, err := patchTemplate("entgo.io/contrib", "entgql/template/pagination.tmpl", gen.NewTemplate("pagesql/pagination").Funcs(entgql.TemplateFuncs),
		// A page's edges are allocated together, one block per page
		// instead of one allocation per edge (a dashboard builds a
		// hundred pages of ten feedback edges).
		templatePatch{
			old: "\tc.Edges = make([]*{{ $edge }}, len(nodes))\n\tfor i := range nodes {\n\t\tnode := nodeAt(i)\n\t\tc.Edges[i] = &{{ $edge }}{\n",
			new: "\tedges := make([]{{ $edge }}, len(nodes))\n\tc.Edges = make([]*{{ $edge }}, len(nodes))\n\tfor i := range nodes {\n\t\tnode := nodeAt(i)\n\t\tc.Edges[i] = &edges[i]\n\t\tedges[i] = {{ $edge }}{\n",
		},
	)
	if err != nil {
		return nil, err
	}
	// A type whose fields have joins (schema.ResolverJoins) holds what
	// they read with its row, typed (joins.Values), and hands it out
	// without Value's reflection and boxing per call (a timeline page
	// asks once per event).
	joined := gen.MustParse(gen.NewTemplate("protoloop/joined").Parse(
		`{{ define "model/fields/additional" }}{{ if $.Annotations.ResolverJoins }}
	// joined holds what the joins of field collection read with the row.
	joined joins.Values
{{- end }}{{ end }}
{{ define "model/additional/joined" }}{{ if $.Annotations.ResolverJoins }}
// Joined returns what the joins of field collection read with the row
// (ent/schema/joins): nothing, if the query that read it had no join.
func ({{ $.Receiver }} *{{ $.Name }}) Joined() *joins.Values {
	return &{{ $.Receiver }}.joined
}
{{ end }}{{ end }}`))
	imports := gen.MustParse(gen.NewTemplate("protoloop/import").Parse(
		`{{ define "import/additional/protoloop" }}"github.com/protoloop/protoloop/ent/schema/pagesql"
	"github.com/protoloop/protoloop/ent/schema/joins"{{ end }}`))
	return []*gen.Template{query, collection, decode, enum, pagination, joined, imports}, nil
}

// scanValuesOld is the start of ent's scanValues, which gives each column
// of each row a value of its own to scan into: an allocation per column
// and row (a dashboard reads a thousand feedback rows).
const scanValuesOld = `// scanValues returns the types for scanning values from sql.Rows.
func (*{{ $.Name }}) scanValues(columns []string) ([]any, error) {
	values := make([]any, len(columns))
	for i := range columns {
		switch columns[i] {
			{{- range $type, $columns := $ctypes }}
				case {{ range $i, $c := $columns }}{{ if ne $i 0 }},{{ end }}{{ $.Package }}.{{ $c }}{{ end }}:
					values[i] = {{ $type }}
			{{- end }}
`

// scanValuesNew declares, for each type, a block of one value per column
// (ent's own scan types, which assignValues asserts, so assignValues is
// unchanged; a nillable value scanner's sql.NullScanner points at a value
// of its own), and has scanValues hand out the values of a block. A query
// scans all its rows into one block (the ScanValues patch of the query
// template): sqlgraph scans and assigns a row before the next, and
// assignValues copies each value out. That holds because every scan type
// here sets its value on every Scan, NULL included (sql.Null*, []byte,
// gid.ID, bytea.Bytes); a value scanner that kept its old value on NULL
// would hand a row the previous row's, so a value scanner not listed here
// fails the generation. Columns the type does not know (a modifier's)
// still get values of their own, which assignValues keeps, but for those a
// join adds (ResolverJoins): they are scanned into the block's
// joins.Values (sql.NullString fields, set on NULL too), which
// assignValues copies into the entity's.
const scanValuesNew = `{{- $scan := print "scan" $.Name }}
{{- range $f := append $.Fields $.ID }}
	{{- if and $f $f.Type.ValueScanner (ne $f.Type.RType.String "gid.ID") (ne $f.Type.RType.String "bytea.Bytes") }}
		{{- fail (printf "%s.%s: rows are scanned into reused values (ent/entc.go, scanValuesNew); check that %s's Scan sets it on NULL too, then list it there" $.Name $f.Name $f.Type.RType.String) }}
	{{- end }}
{{- end }}
// scanValues returns the types for scanning values from sql.Rows.
func (*{{ $.Name }}) scanValues(columns []string) ([]any, error) {
	return new({{ $scan }}).values(nil, columns)
}

// {{ $scan }} holds a value to scan each column of a {{ $.Name }} row into.
type {{ $scan }} struct {
	{{- if $.HasOneFieldID }}
		ID {{ $.ID.ScanType }}
	{{- end }}
	{{- range $f := $.Fields }}
		{{- if not $f.HasValueScanner }}
			{{ $f.StructField }} {{ $f.ScanType }}
			{{- if eq $f.ScanType "sql.NullScanner" }}
				{{ $f.StructField }}Value {{ $f.Type.RType.String }}
			{{- end }}
		{{- end }}
	{{- end }}
	{{- if $.Annotations.ResolverJoins }}
		joined joins.Values
	{{- end }}
}

// values returns the values of r that columns scan into, in values if
// it has room for them.
func (r *{{ $scan }}) values(values []any, columns []string) ([]any, error) {
	if cap(values) < len(columns) {
		values = make([]any, len(columns))
	}
	values = values[:len(columns)]
	for i := range columns {
		switch columns[i] {
			{{- if $.HasOneFieldID }}
				case {{ $.Package }}.{{ $.ID.Constant }}:
					values[i] = &r.ID
			{{- end }}
			{{- range $f := $.Fields }}
				{{- if not $f.HasValueScanner }}
					case {{ $.Package }}.{{ $f.Constant }}:
						{{- if eq $f.ScanType "sql.NullScanner" }}
							r.{{ $f.StructField }}.S = &r.{{ $f.StructField }}Value
						{{- end }}
						values[i] = &r.{{ $f.StructField }}
				{{- end }}
			{{- end }}
`

// resolverColumnsCases selects, for each field a hand-written resolver adds
// to the node, the columns of the fields its ResolverColumns annotation
// names: it matches them against the node's field names ($f.Name), not
// storage columns, and fails the generation for a name that is no field.
// A field with a ResolverJoins entry also gets that join's modifier, when
// the join can answer the field's selection.
const resolverColumnsCases = `{{- if and $fields $node.Annotations.ResolverColumns }}
	{{- $joins := $node.Annotations.ResolverJoins }}
	{{- range $name, $join := $joins }}
		{{- if not (index $node.Annotations.ResolverColumns $name) }}{{ fail (printf "%s: ResolverJoins of %q: the field has no ResolverColumns" $node.Name $name) }}{{ end }}
	{{- end }}
	{{- range $name, $columns := $node.Annotations.ResolverColumns }}
		case "{{ $name }}":
		{{- range $column := $columns }}
			{{- $constant := "" }}
			{{- range $f := $node.Fields }}{{ if eq $f.Name $column }}{{ $constant = $f.Constant }}{{ end }}{{ end }}
			{{- if not $constant }}{{ fail (printf "%s: ResolverColumns of %q: %q is no field of the type" $node.Name $name $column) }}{{ end }}
			if _, ok := fieldSeen[{{ $node.Package }}.{{ $constant }}]; !ok {
				selectedFields = append(selectedFields, {{ $node.Package }}.{{ $constant }})
				fieldSeen[{{ $node.Package }}.{{ $constant }}] = struct{}{}
			}
		{{- end }}
		{{- with $joins }}{{ with index . $name }}
			if join := joins.{{ . }}(opCtx, field); join != nil {
				{{ $node.QueryReceiver }}.modifiers = append({{ $node.QueryReceiver }}.modifiers, join)
			}
		{{- end }}{{ end }}
	{{- end }}
{{- end }}
`

// patchTemplate reads file from module's directory, applies patches and
// parses the result into t.
func patchTemplate(module, file string, t *gen.Template, patches ...templatePatch) (*gen.Template, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	if err != nil {
		return nil, fmt.Errorf("locating %s: %w", module, err)
	}
	path := filepath.Join(strings.TrimSpace(string(out)), file)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	text := string(b)
	for _, p := range patches {
		if n := strings.Count(text, p.old); n != 1 {
			return nil, fmt.Errorf("%s: %d matches for %q, want 1", path, n, p.old)
		}
		text = strings.Replace(text, p.old, p.new, 1)
	}
	return t.Parse(text)
}
