package servertest

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BuildProtoloop builds the protoloop binary into a temporary directory
// and returns its path, for tests that run it as a process of its own
// (killing it, starting replicas). Without a go command the test skips.
func BuildProtoloop(t testing.TB) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build protoloop with: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "protoloop")
	start := time.Now()
	out, err := exec.Command(goBin, "build", "-o", bin, "github.com/protoloop/protoloop/cmd/protoloop").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built protoloop in %v", time.Since(start).Round(time.Millisecond))
	return bin
}
