package paxos_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/quorumkv/quorumkv/paxos"
)

// TestAcceptorRules runs testdata/acceptor: one acceptor's record and its
// partition floor, the prepares and accepts it answers, and whether each
// answer needs a write. Regenerate the expectations with -rewrite.
//
//	record [promise=B] [accepted=B] [value=V] [version=N] [floor=B]
//	                 set the record (and floor); no args: the absent record
//	floor b=B        set the partition floor
//	prepare b=B
//	accept b=B [value=V] [version=N] [promise=B]
//
// Each answer prints the reply, "write" when the record must be persisted,
// and the record after it. The test also checks that a refusal never
// changes the record.
func TestAcceptorRules(t *testing.T) {
	s := &acceptorScript{}
	datadriven.RunTest(t, "testdata/acceptor", func(t *testing.T, d *datadriven.TestData) string {
		return s.run(t, d)
	})
}

type acceptorScript struct {
	rec   paxos.Record
	floor paxos.Ballot
}

func (s *acceptorScript) run(t *testing.T, d *datadriven.TestData) string {
	w := cmdWords(t, d)
	switch d.Cmd {
	case "record":
		*s = acceptorScript{}
		if w.has("promise") {
			s.rec.Promise = parseBallot(t, w["promise"])
		}
		if w.has("accepted") {
			s.rec.Accepted = parseBallot(t, w["accepted"])
		}
		if w.has("floor") {
			s.floor = parseBallot(t, w["floor"])
		}
		s.rec.State = stateOf(t, w)
		return printRecord(s.rec, s.floor)
	case "floor":
		s.floor = parseBallot(t, w["b"])
		return printRecord(s.rec, s.floor)
	case "prepare":
		next, reply, write := paxos.Prepare(s.rec, s.floor, parseBallot(t, w["b"]))
		checkRefusalKeeps(t, s.rec, next, reply.OK, write)
		s.rec = next
		out := "refused seen=" + reply.Seen.String()
		if reply.OK {
			out = fmt.Sprintf("promised accepted=%s state={%s}", reply.Accepted, printState(reply.State))
		}
		return out + writeMark(write) + "\n" + printRecord(s.rec, s.floor)
	case "accept":
		var promise paxos.Ballot
		if w.has("promise") {
			promise = parseBallot(t, w["promise"])
		}
		next, reply, write := paxos.Accept(s.rec, s.floor, parseBallot(t, w["b"]), stateOf(t, w), promise)
		checkRefusalKeeps(t, s.rec, next, reply.OK, write)
		s.rec = next
		out := "refused seen=" + reply.Seen.String()
		switch {
		case reply.OK:
			out = "accepted"
		case reply.Breach:
			out += " breach"
		}
		return out + writeMark(write) + "\n" + printRecord(s.rec, s.floor)
	}
	d.Fatalf(t, "unknown command %q", d.Cmd)
	return ""
}

// checkRefusalKeeps: a refusal never writes and never changes the record.
func checkRefusalKeeps(t *testing.T, before, after paxos.Record, ok, write bool) {
	t.Helper()
	if ok {
		return
	}
	if write || before.Promise != after.Promise || before.Accepted != after.Accepted || !before.State.Equal(after.State) {
		t.Fatalf("a refusal changed the record: %+v -> %+v (write %v)", before, after, write)
	}
}

func writeMark(write bool) string {
	if write {
		return " write"
	}
	return ""
}

func printRecord(r paxos.Record, floor paxos.Ballot) string {
	return fmt.Sprintf("record promise=%s accepted=%s state={%s} floor=%s", r.Promise, r.Accepted, printState(r.State), floor)
}

// cmdWords returns the command's arguments as words.
func cmdWords(t testing.TB, d *datadriven.TestData) words {
	t.Helper()
	fields := make([]string, 0, len(d.CmdArgs))
	for _, a := range d.CmdArgs {
		if len(a.Vals) == 0 {
			fields = append(fields, a.Key)
			continue
		}
		fields = append(fields, a.Key+"="+strings.Join(a.Vals, ","))
	}
	return parseWords(t, fields)
}
