//go:build !linux

package main

import (
	"errors"
	"syscall"
)

// childProcAttr has nothing to add off Linux: there is no parent-death
// signal, so an interrupted benchmark may leave samsa running.
func childProcAttr() *syscall.SysProcAttr { return nil }

// residentBytes needs /proc, which only Linux provides in the needed form.
func residentBytes(pid int) (int64, error) {
	return 0, errors.New("reading resident memory needs Linux's /proc")
}

// loadAverage is not read off Linux; the report omits it.
func loadAverage() []float64 { return nil }
