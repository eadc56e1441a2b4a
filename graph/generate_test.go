package graph_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/protoloop/protoloop/server/servertest"
)

// envDevDatabaseURL names the empty PostgreSQL database the migration
// generator diffs the ent schema against.
const envDevDatabaseURL = "PROTOLOOP_DEV_DATABASE_URL"

// TestGeneratedCodeIsUpToDate fails when `go generate ./...` would change
// any file: generated code (ent, gqlgen, schema/ent.graphqls, migrations)
// edited by hand or not regenerated after a change to its sources. It
// regenerates a copy of the repository, never the working tree.
func TestGeneratedCodeIsUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("regenerating all code takes a minute; skipped with -short")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("no go command to run go generate with: %v", err)
	}
	devURL := os.Getenv(envDevDatabaseURL)
	if devURL == "" {
		devURL = servertest.PostgresSchema(t) // skips, like the API tests, without PostgreSQL
	}

	root := moduleRoot(t)
	files := sourceFiles(t, root)
	copyDir := filepath.Join(t.TempDir(), "repo")
	// Compare with the files as they were copied, not as they are after
	// the minute generation takes: someone may be editing the tree.
	original := make(map[string][]byte, len(files))
	for _, f := range files {
		original[f] = copyFile(t, filepath.Join(root, f), filepath.Join(copyDir, f))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "generate", "./...")
	cmd.Dir = copyDir
	// The module and build caches stay the user's (the environment is
	// inherited), so this needs no network once the module is built.
	// -trimpath keeps the copy's directory, new on every run, out of the
	// build cache's keys of this module's packages: without it, every run
	// compiled anew all that the generators load (ent, its schema, the
	// migrations), some 290 s of CPU, which on a busy machine took the
	// package past go test's default 10-minute timeout; with it, a run
	// compiles only what changed since the last one (35 s when nothing
	// did). What the generators write is the same.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod -trimpath", "GOWORK=off", envDevDatabaseURL+"="+devURL)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go generate ./... failed: %v\n%s", err, out)
	}

	var drift []string
	for _, f := range files {
		want := original[f]
		got, err := os.ReadFile(filepath.Join(copyDir, f))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			drift = append(drift, "removed "+f)
		case err != nil:
			t.Fatal(err)
		case !bytes.Equal(got, want):
			drift = append(drift, fmt.Sprintf("changed %s (first difference at line %d)", f, firstDifferentLine(want, got)))
		}
	}
	for _, f := range addedFiles(t, root, copyDir, files) {
		drift = append(drift, "added "+f)
	}
	if len(drift) > 0 {
		t.Errorf("go generate ./... changes the repository; run it and commit the result:\n\t%s", strings.Join(drift, "\n\t"))
	}
}

// moduleRoot returns the directory of the main module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// sourceFiles lists the repository's files relative to root: what git
// tracks plus new files it does not ignore, or, outside a git checkout,
// every file but .git's.
func sourceFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err == nil {
		for _, f := range strings.Split(string(out), "\x00") {
			// Tracked files deleted from the working tree are listed too.
			if info, err := os.Lstat(filepath.Join(root, f)); f != "" && err == nil && info.Mode().IsRegular() {
				files = append(files, filepath.FromSlash(f))
			}
		}
		return slices.Compact(slices.Sorted(slices.Values(files)))
	}
	t.Logf("git ls-files failed (%v); copying every file", err)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list files: %v", err)
	}
	return files
}

// addedFiles lists files in copyDir that are not in the original list and
// that git would not ignore.
func addedFiles(t *testing.T, root, copyDir string, original []string) []string {
	t.Helper()
	var added []string
	err := filepath.WalkDir(copyDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(copyDir, path)
		if err != nil {
			return err
		}
		if _, found := slices.BinarySearch(original, rel); !found {
			added = append(added, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list generated files: %v", err)
	}
	if len(added) == 0 {
		return nil
	}
	cmd := exec.Command("git", "-C", root, "check-ignore", "--no-index", "-z", "--stdin")
	cmd.Stdin = strings.NewReader(strings.Join(added, "\x00") + "\x00")
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) { // 1: nothing ignored
		t.Logf("git check-ignore failed (%v); reporting every new file", err)
		return added
	}
	ignored := strings.Split(string(out), "\x00")
	return slices.DeleteFunc(added, func(f string) bool { return slices.Contains(ignored, filepath.ToSlash(f)) })
}

// copyFile copies a file, with its permissions, and returns its content.
func copyFile(t *testing.T, from, to string) []byte {
	t.Helper()
	info, err := os.Stat(from)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, info.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
	return data
}

// firstDifferentLine returns the 1-based number of the first line where
// a and b differ.
func firstDifferentLine(a, b []byte) int {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := range min(len(la), len(lb)) {
		if !bytes.Equal(la[i], lb[i]) {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}
