package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time:
//
//	go build -ldflags "-X main.version=v1.2.3" ./cmd/protoloop
var version = "dev"

func versionCommand() *command {
	return &command{
		name:       "version",
		summary:    "print the version",
		standalone: true,
		setup: func(*flag.FlagSet) func(context.Context, *env) error {
			return func(_ context.Context, e *env) error {
				fmt.Fprintf(e.stdout, "protoloop %s %s\n", versionString(), runtime.Version())
				return nil
			}
		},
	}
}

// versionString is the version, followed by the commit it was built from
// when the go command recorded one (go build in a git checkout does).
func versionString() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	var revision, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if revision == "" {
		return version
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	if modified == "true" {
		revision += "-dirty"
	}
	return fmt.Sprintf("%s (%s)", version, revision)
}
