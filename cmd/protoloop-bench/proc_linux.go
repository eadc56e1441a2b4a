package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// dieWithParent has the server the bench starts stop when the bench
// does, however it ends.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

// clockTick is the unit of /proc/<pid>/stat's times: USER_HZ, 100 on
// every Linux architecture Go runs on (sysconf is out of reach without cgo).
const clockTick = 10 * time.Millisecond

// processCPU returns the name and the CPU time so far of process pid,
// from /proc/<pid>/stat.
func processCPU(pid int) (name string, cpu procCPU, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", procCPU{}, err
	}
	// pid (comm) state ppid …: comm may hold spaces and parentheses.
	open, end := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		return "", procCPU{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := bytes.Fields(data[end+1:])
	if len(fields) < 13 {
		return "", procCPU{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	// Fields 14 and 15 of the line, utime and stime; fields[0] is the 3rd.
	utime, err1 := strconv.ParseInt(string(fields[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(fields[12]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return "", procCPU{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	cpu = procCPU{user: time.Duration(utime) * clockTick, system: time.Duration(stime) * clockTick}
	return string(data[open+1 : end]), cpu, nil
}

// selfCPU returns the user and system CPU time this process has used.
func selfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
