package replica

import "golang.org/x/sys/unix"

// fileSize is the size of the open file fd.
func fileSize(fd uintptr) (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil {
		return 0, err
	}
	return st.Size, nil
}

// extendFile writes zeros over [offset, offset+length), extending the file.
// Zeros written (not fallocated: converting an unwritten extent on the
// first write into it is a metadata change too) leave later writes there as
// plain data overwrites.
func extendFile(fd uintptr, offset, length int64) error {
	_, err := unix.Pwrite(int(fd), make([]byte, length), offset)
	return err
}
