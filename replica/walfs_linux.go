package replica

import "golang.org/x/sys/unix"

// extendFile writes zeros over the part of [offset, offset+length) past the
// file's end, extending its size to cover the range. Zeros written (not
// fallocated: converting an unwritten extent on the first write into it is
// a metadata change too) leave later writes in the range as plain data
// overwrites. A recycled WAL already covers the range: nothing is written.
func extendFile(fd uintptr, offset, length int64) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil {
		return err
	}
	end := offset + length
	zeros := make([]byte, min(1<<20, max(0, end-st.Size)))
	for off := max(offset, st.Size); off < end; off += int64(len(zeros)) {
		n := min(int64(len(zeros)), end-off)
		if _, err := unix.Pwrite(int(fd), zeros[:n], off); err != nil {
			return err
		}
	}
	return nil
}
