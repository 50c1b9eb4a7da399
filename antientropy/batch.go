package antientropy

// ObjectSize is what an object counts for in a byte-bounded batch: its key
// and its encoded state.
func ObjectSize(o Object) int { return len(o.Key) + len(o.Clock) }

// FetchBounded answers a Fetch for a Replica implementation: it reads the
// states of keys in order with get (nil: absent) and stops before the first
// object that would take the answer past maxBytes (by ObjectSize), always
// answering the first key, however large. maxBytes <= 0 means no bound.
// get may return a slice the answer keeps.
func FetchBounded(keys [][]byte, maxBytes int, get func(key []byte) ([]byte, error)) ([]Object, error) {
	out := make([]Object, 0, len(keys))
	total := 0
	for _, k := range keys {
		if maxBytes > 0 && len(out) > 0 && total >= maxBytes {
			break // full: do not read a state that cannot fit
		}
		c, err := get(k)
		if err != nil {
			return nil, err
		}
		o := Object{Key: k, Clock: c}
		size := ObjectSize(o)
		if maxBytes > 0 && len(out) > 0 && total+size > maxBytes {
			break
		}
		out = append(out, o)
		total += size
	}
	return out, nil
}

// splitBytes cuts objs into consecutive batches of at most maxBytes each
// (by ObjectSize); an object larger than maxBytes is a batch of its own.
// maxBytes <= 0 means one batch.
func splitBytes(objs []Object, maxBytes int) [][]Object {
	var out [][]Object
	start, total := 0, 0
	for i, o := range objs {
		size := ObjectSize(o)
		if maxBytes > 0 && i > start && total+size > maxBytes {
			out = append(out, objs[start:i])
			start, total = i, 0
		}
		total += size
	}
	if start < len(objs) {
		out = append(out, objs[start:])
	}
	return out
}
