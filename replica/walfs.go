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
//
// The zeros also keep room: a WAL is extended while a whole extension is
// still written ahead of its end, so when extending fails for want of
// space (noSpace is told at once, and the store refuses writes) the
// writes already on their way still fit. Pebble cannot go on with a WAL
// that failed to write (it stops the process at the next commit that
// waits for the sync), so that room is what keeps a disk filled by
// someone else from taking the node down.
type walFS struct {
	vfs.FS
	noSpace func() // extending a WAL failed for want of space (nil: nobody to tell)
}

// walExtension is how far ahead of its writes a WAL is zeroed.
const walExtension = 256 << 10

func (fs walFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	return wrapWAL(name, f, fs.noSpace), err
}

func (fs walFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	return wrapWAL(newname, f, fs.noSpace), err
}

// wrapWAL wraps a WAL opened for writing at offset 0; other files, and
// files without a descriptor (in-memory file systems), stay as they are.
func wrapWAL(name string, f vfs.File, noSpace func()) vfs.File {
	if f == nil || !strings.HasSuffix(name, ".log") || f.Fd() == vfs.InvalidFd {
		return f
	}
	size, err := fileSize(f.Fd())
	if err != nil {
		return f
	}
	return &walFile{File: f, extended: size, noSpace: noSpace}
}

// walFile is a WAL written sequentially from offset 0 (as Pebble writes
// them), whose size is kept ahead of its writes.
type walFile struct {
	vfs.File
	written  int64 // bytes written
	extended int64 // the file's size
	failed   bool  // extending failed (other than for space): write as Pebble would
	noSpace  func()
}

func (f *walFile) Write(p []byte) (int, error) {
	if need := f.written + int64(len(p)); need+walExtension > f.extended && !f.failed {
		end := (need/walExtension + 2) * walExtension
		// Never zero what was written: past a failed extension the
		// writes went beyond the zeros.
		start := max(f.extended, f.written)
		switch err := extendFile(f.Fd(), start, end-start); {
		case err == nil:
			f.extended = end
		case isNoSpace(err):
			// Tried again at the next write: the room kept ahead holds
			// the writes under way meanwhile.
			if f.noSpace != nil {
				f.noSpace()
			}
		default:
			f.failed = true
		}
	}
	n, err := f.File.Write(p)
	f.written += int64(n)
	return n, err
}
