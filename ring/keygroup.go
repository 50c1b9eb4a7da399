package ring

import "bytes"

// GroupOf returns the part of key that places it. A key with a `{…}` part
// is placed by the text between its first '{' and the first '}' after it,
// when that text is not empty (the Redis Cluster hash tag), so
// "svc/{payments}/i-1" and "svc/{payments}/i-2" share a partition and its
// preference list. Any other key, "{}" and an unclosed '{' included, is
// placed by all of it.
func GroupOf(key []byte) []byte {
	open := bytes.IndexByte(key, '{')
	if open < 0 {
		return key
	}
	n := bytes.IndexByte(key[open+1:], '}')
	if n <= 0 {
		return key
	}
	return key[open+1 : open+1+n]
}
