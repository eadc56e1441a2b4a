package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExportWritesTheSeededFeedback(t *testing.T) {
	data := t.TempDir()
	ctx := context.Background()
	if code, _, stderr := protoloop(t, ctx, nil, "seed", "--data", data); code != 0 {
		t.Fatalf("seed: exit %d:\n%s", code, stderr)
	}

	t.Run("as CSV with a BOM into a file, every name shown", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "feedback.csv")
		code, _, stderr := protoloop(t, ctx, nil, "export", "--data", data, "--workspace", "demo", "--bom", "-o", file)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(raw, []byte("\uFEFF")) {
			t.Error("no BOM")
		}
		records, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\uFEFF")))).ReadAll()
		if err != nil {
			t.Fatalf("not CSV: %v", err)
		}
		if len(records) < 10 || records[0][0] != "id" || records[0][11] != "body" {
			t.Fatalf("%d records, header %v", len(records), records[0])
		}
		for _, r := range records[1:] {
			if strings.HasPrefix(r[7], "Tester ") {
				t.Errorf("the operator's export masks %q", r[7])
			}
		}
	})
	t.Run("as JSON Lines to standard output", func(t *testing.T) {
		code, stdout, stderr := protoloop(t, ctx, nil, "export", "--data", data, "--workspace", "demo", "--format", "jsonl")
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		sc := bufio.NewScanner(strings.NewReader(stdout))
		n := 0
		for sc.Scan() {
			var row map[string]any
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil || row["id"] == nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			n++
		}
		if n < 9 {
			t.Errorf("%d lines", n)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"fails without a workspace", []string{"export", "--data", data}},
		{"fails for an unknown format", []string{"export", "--data", data, "--workspace", "demo", "--format", "xlsx"}},
		{"fails for a workspace that does not exist, writing no file", []string{"export", "--data", data, "--workspace", "nowhere"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "out.csv")
			code, _, stderr := protoloop(t, ctx, nil, append(tc.args, "-o", file)...)
			if code != 1 {
				t.Errorf("exit %d, want 1:\n%s", code, stderr)
			}
			if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("left %s behind: %v", file, err)
			}
		})
	}
}
