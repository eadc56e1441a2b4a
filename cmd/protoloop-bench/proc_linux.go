package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the server the bench starts stop when the bench
// does, however it ends.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
