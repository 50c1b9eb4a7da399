package discovery

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Kind is what a join entry names.
type Kind uint8

const (
	// KindAddr is a gossip address, host:port, joined as given (memberlist
	// resolves a host name itself).
	KindAddr Kind = iota
	// KindDNS is dns:NAME:PORT: every A and AAAA record of NAME, each
	// joined at PORT.
	KindDNS
	// KindSRV is dns+srv:NAME: every SRV record of NAME, each target's
	// addresses joined at the record's port.
	KindSRV
)

// The prefixes of the DNS entries.
const (
	dnsPrefix = "dns:"
	srvPrefix = "dns+srv:"
)

// maxNameLen is the longest DNS name (RFC 1035, without the final dot).
const maxNameLen = 253

// Entry is one parsed join entry.
type Entry struct {
	Kind Kind
	// Raw is the entry as given.
	Raw string
	// Name is the DNS name (KindDNS, KindSRV); Port the port every address
	// of the name is joined at (KindDNS).
	Name string
	Port int
}

// ErrBadEntry is matched (errors.Is) by every *EntryError.
var ErrBadEntry = errors.New("bad join entry")

// EntryError reports a join entry that cannot be used, and why.
type EntryError struct {
	Entry, Reason string
}

func (e *EntryError) Error() string { return fmt.Sprintf("join entry %q: %s", e.Entry, e.Reason) }

// Is makes errors.Is(err, ErrBadEntry) true.
func (e *EntryError) Is(target error) bool { return target == ErrBadEntry }

// ParseEntry parses one join entry: dns:NAME:PORT, dns+srv:NAME, or a
// gossip address host:port.
func ParseEntry(s string) (Entry, error) {
	bad := func(format string, args ...any) (Entry, error) {
		return Entry{}, &EntryError{Entry: s, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case strings.HasPrefix(s, srvPrefix):
		name := strings.TrimPrefix(s, srvPrefix)
		if strings.Contains(name, ":") {
			return bad("dns+srv: takes no port (the SRV records give each target's port; want dns+srv:NAME)")
		}
		if err := checkName(name); err != nil {
			return bad("%v (want dns+srv:NAME)", err)
		}
		return Entry{Kind: KindSRV, Raw: s, Name: name}, nil
	case strings.HasPrefix(s, dnsPrefix):
		rest := strings.TrimPrefix(s, dnsPrefix)
		i := strings.LastIndexByte(rest, ':')
		if i < 0 {
			return bad("missing port (want dns:NAME:PORT)")
		}
		name, port := rest[:i], rest[i+1:]
		if err := checkName(name); err != nil {
			return bad("%v (want dns:NAME:PORT)", err)
		}
		p, err := parsePort(port)
		if err != nil {
			return bad("%v (want dns:NAME:PORT)", err)
		}
		return Entry{Kind: KindDNS, Raw: s, Name: name, Port: p}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return bad("want host:port, dns:NAME:PORT or dns+srv:NAME")
	}
	if host == "" {
		return bad("no host (want host:port)")
	}
	if _, err := parsePort(port); err != nil {
		return bad("%v (want host:port)", err)
	}
	return Entry{Kind: KindAddr, Raw: s}, nil
}

// ParseJoin parses every entry: the gossip addresses (KindAddr) as given,
// and the DNS entries to resolve. The error names the first bad entry.
func ParseJoin(entries []string) (addrs []string, names []Entry, err error) {
	for _, s := range entries {
		e, err := ParseEntry(s)
		if err != nil {
			return nil, nil, err
		}
		if e.Kind == KindAddr {
			addrs = append(addrs, s)
		} else {
			names = append(names, e)
		}
	}
	return addrs, names, nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 || s != strconv.Itoa(p) {
		if s == "" {
			return 0, errors.New("missing port")
		}
		return 0, fmt.Errorf("bad port %q (want 1 to 65535)", s)
	}
	return p, nil
}

// checkName accepts a DNS name of labels of letters, digits, '-' and '_'
// (SRV names start with _service._proto), with an optional final dot.
func checkName(name string) error {
	n := strings.TrimSuffix(name, ".")
	switch {
	case n == "":
		return errors.New("empty name")
	case len(n) > maxNameLen:
		return fmt.Errorf("name longer than %d bytes", maxNameLen)
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("bad name %q (empty label or one longer than 63 bytes)", name)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("bad name %q (%q is not a letter, digit, '-' or '_')", name, c)
			}
		}
	}
	return nil
}
