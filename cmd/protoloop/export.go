package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/graph"
)

func exportCommand() *command {
	var workspace, format, output string
	var bom bool
	return &command{
		name:    "export",
		summary: "write a workspace's feedback as CSV or JSON Lines",
		setup: func(fs *flag.FlagSet) func(context.Context, *env) error {
			fs.StringVar(&workspace, "workspace", "", "the workspace's `slug` (or ID); required")
			fs.StringVar(&format, "format", "csv", "`format`: csv or jsonl")
			fs.BoolVar(&bom, "bom", false, "start with a UTF-8 byte order mark, for spreadsheet programs")
			fs.StringVar(&output, "o", "", "write to `file` instead of standard output")
			return func(ctx context.Context, e *env) error {
				return runExport(ctx, e, workspace, format, output, bom)
			}
		},
	}
}

// runExport writes the feedback of a workspace from the database itself,
// as the operator who holds it: every author's name shows.
func runExport(ctx context.Context, e *env, workspace, format, output string, bom bool) (err error) {
	if workspace == "" {
		return errors.New("export: --workspace is required")
	}
	f, err := graph.ParseExportFormat(format)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	db, err := openDB(ctx, e)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := requireMigrated(ctx, db); err != nil {
		return err
	}
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	ws, err := graph.ExportWorkspace(ctx, db.Client, workspace)
	if err != nil {
		return fmt.Errorf("export: workspace %q: %w", workspace, err)
	}
	var w io.Writer = e.stdout
	if output != "" {
		file, err := os.Create(output)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		defer func() {
			if cerr := file.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("export: %w", cerr)
			}
			if err != nil {
				_ = os.Remove(output) // half a file would pass for all of it
			}
		}()
		w = file
	}
	rows, err := graph.ExportFeedback(ctx, db.Client, db.Dialect, ws, w, graph.ExportOptions{Format: f, BOM: bom, ShowNames: true})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	e.log.Info("exported feedback", "workspace", workspace, "rows", rows)
	return nil
}
