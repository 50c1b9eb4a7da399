// Package lint holds tests that check the module's own source for the
// house rules no compiler checks: no decision on an error's text.
package lint
