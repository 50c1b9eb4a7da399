package vclock

import (
	"fmt"
	"strconv"
	"strings"
)

// Test helpers for the notation of docs/causality.md §1:
//
//	clock    {a:3[v3,v2], b:1[] | }     ({ | } or {} is the empty clock)
//	context  ctx{a:3, b:1}              (ctx{} is the empty context)
//	values   [v3,v2]
//	⊥        a tombstone (empty payload)
//
// Anonymous values (after "|") are not supported and are an error. The
// parser does not validate invariants, so invalid clocks like {b:0[]}
// can be written on purpose.

const tombSym = "⊥"

func parseSibling(s string) (Sibling, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return Sibling{}, fmt.Errorf("empty value")
	case tombSym:
		return Sibling{Tombstone: true}, nil
	}
	return Sibling{Value: []byte(s)}, nil
}

func parseSiblings(s string) ([]Sibling, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return nil, fmt.Errorf("values %q: want [..]", s)
	}
	s = strings.TrimSpace(s[1 : len(s)-1])
	if s == "" {
		return nil, nil
	}
	var out []Sibling
	for _, p := range strings.Split(s, ",") {
		v, err := parseSibling(p)
		if err != nil {
			return nil, fmt.Errorf("values %q: %w", s, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// splitTop splits s at sep characters that are not inside [...].
func splitTop(s string, sep byte) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case sep:
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func parseClock(s string) (Clock, error) {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "{") || !strings.HasSuffix(t, "}") {
		return Clock{}, fmt.Errorf("clock %q: want {...}", s)
	}
	t = t[1 : len(t)-1]
	if i := strings.IndexByte(t, '|'); i >= 0 {
		if anon := strings.TrimSpace(t[i+1:]); anon != "" {
			return Clock{}, fmt.Errorf("clock %q: anonymous values are not supported", s)
		}
		t = t[:i]
	}
	if strings.TrimSpace(t) == "" {
		return Clock{}, nil
	}
	var c Clock
	for _, p := range splitTop(t, ',') {
		p = strings.TrimSpace(p)
		colon := strings.IndexByte(p, ':')
		br := strings.IndexByte(p, '[')
		if colon <= 0 || br < colon {
			return Clock{}, fmt.Errorf("clock %q: bad entry %q", s, p)
		}
		n, err := strconv.ParseUint(strings.TrimSpace(p[colon+1:br]), 10, 64)
		if err != nil {
			return Clock{}, fmt.Errorf("clock %q: entry %q: %w", s, p, err)
		}
		vs, err := parseSiblings(p[br:])
		if err != nil {
			return Clock{}, fmt.Errorf("clock %q: %w", s, err)
		}
		c.Entries = append(c.Entries, Entry{Actor: Actor(strings.TrimSpace(p[:colon])), N: n, Values: vs})
	}
	return c, nil
}

func parseVV(s string) (VV, error) {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "ctx{") || !strings.HasSuffix(t, "}") {
		return nil, fmt.Errorf("context %q: want ctx{...}", s)
	}
	t = strings.TrimSpace(t[4 : len(t)-1])
	if t == "" {
		return nil, nil
	}
	var v VV
	for _, p := range strings.Split(t, ",") {
		a, n, ok := strings.Cut(strings.TrimSpace(p), ":")
		if !ok {
			return nil, fmt.Errorf("context %q: bad dot %q", s, p)
		}
		k, err := strconv.ParseUint(strings.TrimSpace(n), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("context %q: %w", s, err)
		}
		v = append(v, Dot{Actor: Actor(strings.TrimSpace(a)), N: k})
	}
	return v, nil
}

func mustClock(s string) Clock {
	c, err := parseClock(s)
	if err != nil {
		panic(err)
	}
	return c
}

func mustVV(s string) VV {
	v, err := parseVV(s)
	if err != nil {
		panic(err)
	}
	return v
}

func fmtSibling(s Sibling) string {
	if s.Tombstone {
		if len(s.Value) > 0 {
			return tombSym + "(" + string(s.Value) + ")"
		}
		return tombSym
	}
	return string(s.Value)
}

func fmtSiblings(vs []Sibling) string {
	parts := make([]string, len(vs))
	for i, s := range vs {
		parts[i] = fmtSibling(s)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func fmtClock(c Clock) string {
	parts := make([]string, len(c.Entries))
	for i, e := range c.Entries {
		parts[i] = fmt.Sprintf("%s:%d%s", e.Actor, e.N, fmtSiblings(e.Values))
	}
	return "{" + strings.Join(parts, ", ") + " | }"
}

func fmtVV(v VV) string {
	parts := make([]string, len(v))
	for i, d := range v {
		parts[i] = fmt.Sprintf("%s:%d", d.Actor, d.N)
	}
	return "ctx{" + strings.Join(parts, ", ") + "}"
}

func fmtLive(vs [][]byte) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = string(v)
	}
	return "[" + strings.Join(parts, ",") + "]"
}
