//go:build !linux

package main

import (
	"errors"
	"os/exec"
	"time"
)

// dieWithParent is a no-op where the kernel cannot tie a child's life to
// its parent's: the bench stops its servers itself when it ends normally.
func dieWithParent(*exec.Cmd) {}

var errNoProc = errors.New("CPU time by process is read from Linux's /proc")

// processCPU and selfCPU are Linux's: the tables show "-" elsewhere.
func processCPU(int) (string, procCPU, error) { return "", procCPU{}, errNoProc }

func selfCPU() (time.Duration, error) { return 0, errNoProc }
