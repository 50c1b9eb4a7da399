package replica

import (
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// walFS keeps each WAL's size ahead of its writes. Pebble preallocates a
// WAL keeping its size (FALLOC_FL_KEEP_SIZE), so every append grows the
// file and every fdatasync must also write the inode, a second synchronous
// disk write per commit. The WAL files walFS opens write zeros
// walExtension at a time ahead of the next write, so most syncs write only
// data. The zeros go a little at a time, so that the next fsync does not
// flush megabytes with commits waiting behind it (docs/design.md, Data path,
// has the figures). Pebble reads the zeroed tail of a WAL as its end, as it
// does for a recycled one.
type walFS struct{ vfs.FS }

// walExtension is how far ahead of its writes a WAL is zeroed.
const walExtension = 256 << 10

func (fs walFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	return wrapWAL(name, f), err
}

func (fs walFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	return wrapWAL(newname, f), err
}

// wrapWAL wraps a WAL opened for writing at offset 0; other files, and
// files without a descriptor (in-memory file systems), stay as they are.
func wrapWAL(name string, f vfs.File) vfs.File {
	if f == nil || !strings.HasSuffix(name, ".log") || f.Fd() == vfs.InvalidFd {
		return f
	}
	size, err := fileSize(f.Fd())
	if err != nil {
		return f
	}
	return &walFile{File: f, extended: size}
}

// walFile is a WAL written sequentially from offset 0 (as Pebble writes
// them), whose size is kept ahead of its writes.
type walFile struct {
	vfs.File
	written  int64 // bytes written
	extended int64 // the file's size
	failed   bool  // extending failed once: write as Pebble would
}

func (f *walFile) Write(p []byte) (int, error) {
	if need := f.written + int64(len(p)); need > f.extended && !f.failed {
		end := (need/walExtension + 1) * walExtension
		if err := extendFile(f.Fd(), f.extended, end-f.extended); err != nil {
			f.failed = true
		} else {
			f.extended = end
		}
	}
	n, err := f.File.Write(p)
	f.written += int64(n)
	return n, err
}
