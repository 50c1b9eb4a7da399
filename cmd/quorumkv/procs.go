package main

import (
	"os"
	"runtime"
)

// serverProcs is the GOMAXPROCS a server runs with when the GOMAXPROCS
// environment variable does not set it: twice the runtime's default (the
// CPUs it may use), at most eight more. A node spends much of its time in
// blocking system calls (fsync, reads from disk) and every one holds a P;
// with a P per CPU the runtime must hand it to another thread to keep the
// other goroutines running, a thread wake-up per call. Spare Ps make that
// rare (docs/design.md, Data path, has the figures).
func serverProcs(env string, cpus int) int {
	if env != "" {
		return 0 // the operator's choice; the runtime already applied it
	}
	return cpus + min(cpus, 8)
}

// setServerProcs applies serverProcs and returns the GOMAXPROCS in effect.
func setServerProcs() int {
	if n := serverProcs(os.Getenv("GOMAXPROCS"), runtime.GOMAXPROCS(0)); n > 0 {
		runtime.GOMAXPROCS(n)
	}
	return runtime.GOMAXPROCS(0)
}
