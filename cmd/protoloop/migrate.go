package main

import (
	"context"
	"flag"
	"fmt"
)

func migrateCommand() *command {
	return &command{
		name:    "migrate",
		summary: "apply pending database migrations and say which",
		setup: func(*flag.FlagSet) func(context.Context, *env) error {
			return runMigrate
		},
	}
}

func runMigrate(ctx context.Context, e *env) error {
	db, err := openDB(ctx, e)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := migrate(ctx, e, db)
	// Report what was applied even when a later migration failed: those
	// are in the database now.
	for _, m := range applied {
		fmt.Fprintln(e.stdout, "applied", m)
	}
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(e.stdout, "up to date")
	}
	return nil
}
