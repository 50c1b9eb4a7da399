//go:build !linux

package replica

import "errors"

// fileSize and extendFile are Linux only: elsewhere WALs are left as Pebble
// writes them.
func fileSize(uintptr) (int64, error) { return 0, errors.ErrUnsupported }

func extendFile(uintptr, int64, int64) error { return errors.ErrUnsupported }
