//go:build !linux

package main

import "os/exec"

// dieWithParent is a no-op where the kernel cannot tie a child's life to
// its parent's: the bench stops its servers itself when it ends normally.
func dieWithParent(*exec.Cmd) {}
