package vclock

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// vectorsDoc holds the test vectors: the lines of its fenced blocks
// marked "vectors" (docs/causality.md §5 and §6).
const vectorsDoc = "../docs/causality.md"

// TestVectors runs the test vectors of docs/causality.md, block after
// block in one environment, in a small line language:
//
//	# comment
//	NAME = CLOCK                          define a name
//	[NAME =] OP ARGS... => EXPECTED       evaluate, compare, optionally name the result
//
// CLOCK is a literal like {a:3[v3,v2], b:1[] | } or a defined NAME.
// Operations:
//
//	put CLOCK ACTOR ctx{..} VALUE   => CLOCK   Put (VALUE ⊥ is a tombstone)
//	blind CLOCK ACTOR VALUE         => CLOCK   Put with the empty context
//	sync CLOCK CLOCK...             => CLOCK   Sync; checked in both orders
//	sync1 CLOCK CLOCK               => CLOCK   Sync in this order only
//	get CLOCK...                    => [v,..] ctx{..} | notfound ctx{..}
//	less CLOCK CLOCK                => true|false
//	equal CLOCK CLOCK               => true|false
//	values CLOCK                    => [v,..]  (tombstones included)
//	size CLOCK                      => N
//	ctx CLOCK                       => ctx{..}
//	invalid CLOCK                   => error   (Validate must fail)
func TestVectors(t *testing.T) {
	f, err := os.Open(vectorsDoc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]Clock{}
	sc := bufio.NewScanner(f)
	lineNo, cases, inBlock := 0, 0, false
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "```vectors":
			inBlock = true
			continue
		case strings.HasPrefix(line, "```"):
			inBlock = false
			continue
		}
		if !inBlock || line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cases++
		if err := runVectorLine(env, line); err != nil {
			t.Errorf("%s:%d: %s\n\t%v", vectorsDoc, lineNo, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cases < 100 {
		t.Fatalf("only %d vector lines ran", cases)
	}
}

// tokenize splits at whitespace outside {...} and [...].
func tokenize(s string) []string {
	var out []string
	depth, start := 0, -1
	for i, r := range s {
		switch {
		case r == '{' || r == '[':
			depth++
		case r == '}' || r == ']':
			depth--
		}
		space := r == ' ' || r == '\t'
		if space && depth == 0 {
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

func runVectorLine(env map[string]Clock, line string) (err error) {
	if i := strings.Index(line, " #"); i >= 0 {
		line = line[:i]
	}
	toks := tokenize(line)
	name := ""
	if len(toks) >= 2 && toks[1] == "=" {
		name, toks = toks[0], toks[2:]
	}
	var want []string
	for i, tk := range toks {
		if tk == "=>" {
			toks, want = toks[:i], toks[i+1:]
			break
		}
	}
	if len(toks) == 0 {
		return fmt.Errorf("empty expression")
	}
	clock := func(tk string) (Clock, error) {
		if strings.HasPrefix(tk, "{") {
			return parseClock(tk)
		}
		c, ok := env[tk]
		if !ok {
			return Clock{}, fmt.Errorf("undefined name %q", tk)
		}
		return c, nil
	}
	clocks := func(tks []string) ([]Clock, error) {
		var out []Clock
		for _, tk := range tks {
			c, err := clock(tk)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	}
	wantOne := func() (string, error) {
		if len(want) != 1 {
			return "", fmt.Errorf("want exactly one expected token, got %q", want)
		}
		return want[0], nil
	}
	checkClock := func(got Clock) error {
		if err := got.Validate(); err != nil {
			return fmt.Errorf("result %s invalid: %v", fmtClock(got), err)
		}
		rt, err := Unmarshal(got.Marshal())
		if err != nil || !rt.Equal(got) {
			return fmt.Errorf("result %s does not round-trip: %v", fmtClock(got), err)
		}
		if name != "" {
			env[name] = got
		}
		if len(want) == 0 && name != "" {
			return nil
		}
		w, err := wantOne()
		if err != nil {
			return err
		}
		exp, err := clock(w)
		if err != nil {
			return err
		}
		if !got.Equal(exp) {
			return fmt.Errorf("got  %s\n\twant %s", fmtClock(got), fmtClock(exp))
		}
		return nil
	}
	checkBool := func(got bool) error {
		w, err := wantOne()
		if err != nil {
			return err
		}
		if strconv.FormatBool(got) != w {
			return fmt.Errorf("got %v, want %s", got, w)
		}
		return nil
	}
	// Inputs must never be modified: snapshot them.
	args, _ := clocks(toks[1:])
	var snaps []Clock
	for _, c := range args {
		snaps = append(snaps, c.Clone())
	}
	defer func() {
		for i, c := range args {
			if err == nil && !c.Equal(snaps[i]) {
				err = fmt.Errorf("input %d modified: now %s", i, fmtClock(c))
			}
		}
	}()

	op := toks[0]
	if len(toks) == 1 {
		c, err := clock(op)
		if err != nil {
			return err
		}
		if name == "" {
			return fmt.Errorf("bare clock without a name")
		}
		env[name] = c
		return nil
	}
	switch op {
	case "put", "blind":
		nargs := 5
		if op == "blind" {
			nargs = 4
		}
		if len(toks) != nargs {
			return fmt.Errorf("%s wants %d arguments", op, nargs-1)
		}
		local, err := clock(toks[1])
		if err != nil {
			return err
		}
		var ctx VV
		vtok := toks[3]
		if op == "put" {
			if ctx, err = parseVV(toks[3]); err != nil {
				return err
			}
			vtok = toks[4]
		}
		v, err := parseSibling(vtok)
		if err != nil {
			return err
		}
		got := Put(local, ctx, Actor(toks[2]), v)
		// docs/causality.md §5.8 (3): the properties of every update.
		if !Less(local, got) || !Descends(got.Context(), ctx) || got.Context().Equal(ctx) {
			return fmt.Errorf("put result %s does not strictly dominate local and ctx", fmtClock(got))
		}
		if got.Counter(Actor(toks[2])) != max(local.Counter(Actor(toks[2])), ctx.Get(Actor(toks[2])))+1 {
			return fmt.Errorf("put: wrong new counter in %s", fmtClock(got))
		}
		return checkClock(got)
	case "sync", "sync1":
		cs, err := clocks(toks[1:])
		if err != nil {
			return err
		}
		if len(cs) < 2 || (op == "sync1" && len(cs) != 2) {
			return fmt.Errorf("%s: wrong number of arguments", op)
		}
		got := Clock{}
		for _, c := range cs {
			got = Sync(got, c)
		}
		if op == "sync" {
			rev := Clock{}
			for i := len(cs) - 1; i >= 0; i-- {
				rev = Sync(rev, cs[i])
			}
			if !rev.Equal(got) {
				return fmt.Errorf("sync is order dependent: %s vs %s", fmtClock(got), fmtClock(rev))
			}
		}
		return checkClock(got)
	case "get":
		cs, err := clocks(toks[1:])
		if err != nil {
			return err
		}
		m := Clock{}
		for _, c := range cs {
			m = Sync(m, c)
		}
		if len(want) != 2 {
			return fmt.Errorf("get wants `[..] ctx{..}` or `notfound ctx{..}`")
		}
		var got string
		if m.AllTombstones() {
			got = "notfound"
		} else {
			got = fmtLive(m.Live())
		}
		wv, err := parseVV(want[1])
		if err != nil {
			return err
		}
		exp := want[0]
		if exp != "notfound" {
			ws, err := parseSiblings(exp)
			if err != nil {
				return err
			}
			exp = fmtSiblings(ws)
		}
		if got != exp || !m.Context().Equal(wv) {
			return fmt.Errorf("got %s %s, want %s %s", got, fmtVV(m.Context()), exp, fmtVV(wv))
		}
		return nil
	case "less", "equal":
		cs, err := clocks(toks[1:])
		if err != nil {
			return err
		}
		if len(cs) != 2 {
			return fmt.Errorf("%s wants 2 clocks", op)
		}
		if op == "less" {
			return checkBool(Less(cs[0], cs[1]))
		}
		return checkBool(cs[0].Equal(cs[1]))
	case "values", "size", "ctx", "invalid":
		if len(toks) != 2 {
			return fmt.Errorf("%s wants 1 clock", op)
		}
		c, err := clock(toks[1])
		if err != nil {
			return err
		}
		w, err := wantOne()
		if err != nil {
			return err
		}
		var got string
		switch op {
		case "values":
			got = fmtSiblings(c.Values())
			ws, err := parseSiblings(w)
			if err != nil {
				return err
			}
			w = fmtSiblings(ws)
		case "size":
			got = strconv.Itoa(c.Size())
		case "ctx":
			wv, err := parseVV(w)
			if err != nil {
				return err
			}
			if !c.Context().Equal(wv) || len(c.Context()) != len(wv) {
				return fmt.Errorf("got %s, want %s", fmtVV(c.Context()), fmtVV(wv))
			}
			return nil
		case "invalid":
			got = "valid"
			if c.Validate() != nil {
				got = "error"
			}
		}
		if got != w {
			return fmt.Errorf("got %s, want %s", got, w)
		}
		return nil
	}
	return fmt.Errorf("unknown operation %q", op)
}
