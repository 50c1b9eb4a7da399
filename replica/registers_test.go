package replica

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/quorumkv/quorumkv/paxos"
)

func ballot(n uint64) paxos.Ballot { return paxos.Ballot{Counter: n, Node: "p"} }

func regKey(k string) RegisterKey { return RegisterKey{Partition: 2, Kind: 's', Key: []byte(k)} }

// TestRegisterStepsSurviveACrash: a promise and an accept the store
// answered are durable: after a power loss (no unsynced data survives) the
// acceptor still refuses the lower ballot and still reports the accepted
// state.
func TestRegisterStepsSurviveACrash(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s := mustOpen(t, memConfig(fs))
	k := regKey("a")
	if r, err := s.Prepare(k, 1, ballot(5)); err != nil || !r.OK {
		t.Fatalf("prepare: %+v %v", r, err)
	}
	st := paxos.State{Exists: true, Value: []byte("v"), Version: 1}
	if r, err := s.Accept(k, 1, ballot(5), st, ballot(6)); err != nil || !r.OK {
		t.Fatalf("accept: %+v %v", r, err)
	}
	if r, err := s.Prepare(regKey("b"), 1, ballot(9)); err != nil || !r.OK {
		t.Fatalf("prepare b: %+v %v", r, err)
	}
	s2 := mustOpen(t, memConfig(crash(t, s, fs, 0)))
	if s2.Empty() {
		t.Fatal("a store holding only registers says it holds no data")
	}
	if r, _ := s2.Prepare(regKey("b"), 1, ballot(8)); r.OK {
		t.Fatal("a crash lost the promise of 9: ballot 8 was promised")
	}
	r, err := s2.Prepare(k, 1, ballot(7))
	if err != nil || !r.OK || r.Accepted != ballot(5) || string(r.State.Value) != "v" {
		t.Fatalf("after the crash: %+v %v", r, err)
	}
}

// TestRegisterEpochFloor: a message of an older epoch than any the
// partition has seen is refused; a newer one raises the floor.
func TestRegisterEpochFloor(t *testing.T) {
	s := mustOpen(t, memConfig(vfs.NewMem()))
	k := regKey("a")
	if _, err := s.Prepare(k, 3, ballot(1)); err != nil {
		t.Fatal(err)
	}
	var stale *StaleEpochError
	if _, err := s.Prepare(k, 2, ballot(2)); !errors.As(err, &stale) || stale.Epoch != 3 {
		t.Fatalf("epoch 2 after 3: %v", err)
	}
	if e, _ := s.PaxosEpoch(2); e != 3 {
		t.Fatalf("epoch floor %d, want 3", e)
	}
	if err := s.InstallRegister(k, paxos.Record{Promise: ballot(4)}); err != nil {
		t.Fatalf("a copy is not held to an epoch: %v", err)
	}
}

// TestRaiseFloorAndRemove: only a record still equal to the collected
// tombstone is removed; the floor covers the removed record's promise, so
// neither a delayed accept nor a prepare below it is taken.
func TestRaiseFloorAndRemove(t *testing.T) {
	s := mustOpen(t, memConfig(vfs.NewMem()))
	dead, live := regKey("dead"), regKey("live")
	tomb := paxos.State{Version: 2}
	for _, k := range []RegisterKey{dead, live} {
		if _, err := s.Prepare(k, 1, ballot(10)); err != nil {
			t.Fatal(err)
		}
	}
	if r, _ := s.Accept(dead, 1, ballot(10), tomb, ballot(11)); !r.OK {
		t.Fatal("accept tombstone")
	}
	if r, _ := s.Accept(live, 1, ballot(10), paxos.State{Exists: true, Value: []byte("x"), Version: 3}, ballot(11)); !r.OK {
		t.Fatal("accept live")
	}
	if _, err := s.Prepare(dead, 1, ballot(20)); err != nil { // a later promise
		t.Fatal(err)
	}
	remove := map[string]paxos.Ballot{"s" + "dead": ballot(10), "s" + "live": ballot(10)}
	if err := s.RaiseFloorAndRemove(2, ballot(10), remove); err != nil {
		t.Fatal(err)
	}
	var names []string
	_ = s.ScanRegisters(2, func(k RegisterKey, _ paxos.Record) error { names = append(names, string(k.Key)); return nil })
	if len(names) != 1 || names[0] != "live" {
		t.Fatalf("registers left %v, want [live]", names)
	}
	if f, _ := s.PaxosFloor(2); f != ballot(20) {
		t.Fatalf("floor %v, want the removed record's promise 20.p", f)
	}
	if r, _ := s.Accept(dead, 1, ballot(15), paxos.State{Exists: true, Value: []byte("old")}, paxos.Ballot{}); r.OK {
		t.Fatal("a delayed accept below the floor brought the value back")
	}
	if r, _ := s.Prepare(dead, 1, ballot(21)); !r.OK || r.State.Exists {
		t.Fatalf("a prepare above the floor: %+v", r)
	}
}

// TestR3Scylla6149NoAcceptorStateExpires (scylla#6149: Paxos state expired
// by a TTL let two conflicting lightweight transactions both commit): no
// code of this package deletes under the register space or a floor except
// RaiseFloorAndRemove (collection) and DropPartition, and nothing stores a
// register with a time to live.
func TestR3Scylla6149NoAcceptorStateExpires(t *testing.T) {
	allowed := map[string]bool{"RaiseFloorAndRemove": true, "DropPartition": true}
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			body := string(src[fset.Position(fn.Body.Pos()).Offset:fset.Position(fn.Body.End()).Offset])
			touches := strings.Contains(body, "registerPrefix(") || strings.Contains(body, "floorKey(") || strings.Contains(body, "paxosEpochKey(")
			deletes := strings.Contains(body, ".Delete(") || strings.Contains(body, ".DeleteRange(")
			if touches && deletes && !allowed[fn.Name.Name] {
				t.Errorf("%s: %s deletes acceptor state", f, fn.Name.Name)
			}
		}
		if strings.Contains(string(src), "registerPrefix") && strings.Contains(strings.ToLower(string(src)), "ttl") && f != "registers.go" {
			t.Errorf("%s mentions a TTL next to registers", f)
		}
	}
}

// TestDelayedAcceptRacingCollection: an old accept that arrives while
// collection removes the tombstone is refused by the floor it raises, never
// taken against the floor from before (the lost delete of CASPaxos §3.1).
func TestDelayedAcceptRacingCollection(t *testing.T) {
	s := mustOpen(t, memConfig(vfs.NewMem()))
	for round := range 300 {
		k := regKey(fmt.Sprintf("race-%d", round))
		base := uint64(1000 * (round + 1))
		if r, _ := s.Accept(k, 1, ballot(base), paxos.State{Version: 2}, paxos.Ballot{}); !r.OK {
			t.Fatal("tombstone")
		}
		done := make(chan paxos.AcceptReply)
		go func() {
			r, _ := s.Accept(k, 1, ballot(base-1), paxos.State{Exists: true, Value: []byte("resurrected"), Version: 1}, paxos.Ballot{})
			done <- r
		}()
		if err := s.RaiseFloorAndRemove(2, ballot(base+5), map[string]paxos.Ballot{"s" + string(k.Key): ballot(base)}); err != nil {
			t.Fatal(err)
		}
		r := <-done
		rec, _ := s.Register(k)
		if rec.State.Exists || r.OK {
			t.Fatalf("round %d: the deleted value came back (accept ok=%v)", round, r.OK)
		}
	}
}

// TestCachedRecordsFollowRemovalAndDrop: a register a step has just
// written (and so cached) reads as absent to the next step once collection
// removed it or its partition was dropped, as it does after a reopen.
func TestCachedRecordsFollowRemovalAndDrop(t *testing.T) {
	s := mustOpen(t, memConfig(vfs.NewMem()))
	dead, other := regKey("dead"), regKey("other")
	for _, k := range []RegisterKey{dead, other} {
		if r, err := s.Accept(k, 1, ballot(10), paxos.State{Version: 2}, paxos.Ballot{}); err != nil || !r.OK {
			t.Fatalf("accept %s: %+v %v", k.Key, r, err)
		}
	}
	if err := s.RaiseFloorAndRemove(2, paxos.Ballot{}, map[string]paxos.Ballot{"sdead": ballot(10)}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Prepare(dead, 1, ballot(30)); err != nil || !r.OK || !r.Accepted.IsZero() {
		t.Fatalf("prepare after removal: %+v %v, want nothing accepted", r, err)
	}
	if r, err := s.Prepare(other, 1, ballot(30)); err != nil || !r.OK || r.Accepted != ballot(10) {
		t.Fatalf("prepare of the register kept: %+v %v", r, err)
	}
	if err := s.DropPartition(2); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Prepare(other, 1, ballot(5)); err != nil || !r.OK || !r.Accepted.IsZero() {
		t.Fatalf("prepare after the partition was dropped: %+v %v, want a fresh register", r, err)
	}
}
