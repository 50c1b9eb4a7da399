//go:build !linux

package replica

import "errors"

// extendFile is Linux only; elsewhere Pebble's own preallocation runs.
func extendFile(uintptr, int64, int64) error { return errors.ErrUnsupported }
