// Command quorumkv is the one quorumkv binary: a server, a local demo
// cluster, the get/put/delete client, the serial register and lock
// commands, and the ring admin commands.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/quorumkv/quorumkv/client"
)

// Exit codes (documented in the README).
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitUnavailable = 3
	exitNotFound    = 4
	// exitNotApplied: a register change or lock request was definitely
	// refused (condition not met, lock held by another or lost, fenced,
	// not a number); nothing changed.
	exitNotApplied = 5
	// exitOutcomeUnknown: a register change or lock request may have
	// applied.
	exitOutcomeUnknown = 6
	// exitDenied: the node refused the caller (no client certificate where
	// one is required, or one whose role does not allow the command).
	exitDenied = 7
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "Error: %v\n", err)
	return exitCode(err)
}

// usageError marks a mistake in how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func exitCode(err error) int {
	var unavailable *client.UnavailableError
	var usage usageError
	var none nothingApplied
	switch {
	case errors.Is(err, client.ErrUnauthenticated), errors.Is(err, client.ErrPermissionDenied):
		return exitDenied
	case errors.Is(err, client.ErrOutcomeUnknown):
		return exitOutcomeUnknown
	case errors.Is(err, client.ErrConditionFailed), errors.Is(err, client.ErrFenced), errors.Is(err, client.ErrNotANumber):
		return exitNotApplied
	case errors.As(err, &unavailable), errors.As(err, &none):
		return exitUnavailable
	case errors.Is(err, client.ErrNotFound), errors.Is(err, client.ErrLeaseNotFound), errors.Is(err, client.ErrCompacted):
		return exitNotFound
	case errors.As(err, &usage), errors.Is(err, client.ErrInvalidArgument):
		return exitUsage
	}
	return exitError
}
