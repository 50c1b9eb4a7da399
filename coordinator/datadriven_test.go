package coordinator

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestOutcomes runs the scripts in testdata/outcomes: a fake cluster, faults
// on replicas, then reads and writes whose outcome (success with who
// answered, or unavailable with required/acknowledged), hints and replica
// contents are printed. Regenerate the expectations with -rewrite.
//
//	cluster nodes=a,b,c,d [prefs=a,b,c] [fallbacks=d] [hints] [readfew]
//	fail to=b [op=apply|read|*]
//	freeze to=b [op=...]        calls to b never answer (until the coordinators close)
//	down b                      gossip reports b as down
//	quiet b                     the transport reports b as quiet
//	calls op=apply to=b         how many calls of op reached b
//	set node=b key=k values=v1  store a clock (actor node, counter 1) directly
//	put from=a key=k value=v [level=quorum] [count=N] [strict]
//	get from=a key=k [level=quorum] [count=N] [strict]
//	await-repair node=b key=k   wait until b has been repaired, print its values
//	hints node=d [wait=N]       the hints node d holds (once it holds N)
//	values node=b key=k         the live values b stores for k
func TestOutcomes(t *testing.T) {
	datadriven.Walk(t, "testdata/outcomes", func(t *testing.T, path string) {
		var cl *cluster
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd == "cluster" {
				cl = newCluster(t, list(d, "nodes"), clusterOpts{prefs: list(d, "prefs"), fallbacks: list(d, "fallbacks"), hints: d.HasArg("hints"), readFew: d.HasArg("readfew")})
				return ""
			}
			if cl == nil {
				d.Fatalf(t, "%s before cluster", d.Cmd)
			}
			return runOutcome(t, cl, d)
		})
	})
}

func runOutcome(t *testing.T, cl *cluster, d *datadriven.TestData) string {
	switch d.Cmd {
	case "fail":
		op, to := "*", arg(d, "to")
		d.MaybeScanArgs(t, "op", &op)
		cl.net.setFault(op, to, unreachable(to))
		return ""
	case "freeze":
		op, to := "*", arg(d, "to")
		d.MaybeScanArgs(t, "op", &op)
		cl.net.setFault(op, to, fault{block: true})
		return ""
	case "down":
		for _, a := range d.CmdArgs {
			cl.setDown(a.Key)
		}
		return ""
	case "quiet":
		for _, a := range d.CmdArgs {
			cl.setQuiet(a.Key)
		}
		return ""
	case "calls":
		return fmt.Sprintf("%d\n", cl.net.callsTo(arg(d, "op"), arg(d, "to")))
	case "set":
		node := arg(d, "node")
		var e = entry(node, 1, list(d, "values")...)
		cl.local(node).set(arg(d, "key"), clk(e))
		return ""
	case "put":
		res, err := cl.coord(arg(d, "from")).Put(testCtx(t), Write{Key: []byte(arg(d, "key")), Value: []byte(arg(d, "value")), Consistency: consistencyArgs(t, d)})
		return outcome(err, res.Info, live(res.Clock))
	case "get":
		res, err := cl.coord(arg(d, "from")).Get(testCtx(t), []byte(arg(d, "key")), consistencyArgs(t, d))
		return outcome(err, res.Info, live(res.Clock))
	case "await-repair":
		node, key := arg(d, "node"), arg(d, "key")
		cl.net.waitFor(t, node+" repaired", func() bool { return cl.local(node).applyCount(key) > 0 })
		return fmt.Sprintf("%s: %v\n", node, live(cl.local(node).clock(key)))
	case "values":
		node := arg(d, "node")
		return fmt.Sprintf("%s: %v\n", node, live(cl.local(node).clock(arg(d, "key"))))
	case "hints":
		node, n := arg(d, "node"), 0
		d.MaybeScanArgs(t, "wait", &n)
		cl.net.waitFor(t, "hints on "+node, func() bool { return len(cl.nodes[node].hints.list()) >= n })
		var b strings.Builder
		for _, h := range cl.nodes[arg(d, "node")].hints.list() {
			fmt.Fprintf(&b, "for %s: %s=%v\n", h.target, h.key, live(h.clock))
		}
		return b.String()
	}
	d.Fatalf(t, "unknown command %s", d.Cmd)
	return ""
}

// outcome prints a request's result: who answered, or why it failed.
func outcome(err error, info Info, values []string) string {
	replicas := slices.Sorted(slices.Values(info.Replicas))
	head := "ok"
	var ue *UnavailableError
	switch {
	case errors.As(err, &ue):
		head = fmt.Sprintf("unavailable: %s required=%d acknowledged=%d", ue.Op, ue.Required, ue.Acknowledged)
	case err != nil:
		return fmt.Sprintf("error: %v\n", err)
	}
	return fmt.Sprintf("%s\nacks=%d required=%d fallback-acks=%d replicas=%v values=%v\n",
		head, info.Acks, info.Required, info.FallbackAcks, replicas, values)
}

func consistencyArgs(t *testing.T, d *datadriven.TestData) Consistency {
	var c Consistency
	if d.HasArg("level") {
		l, err := ParseLevel(arg(d, "level"))
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		c.Level = l
	}
	d.MaybeScanArgs(t, "count", &c.Count)
	c.Strict = d.HasArg("strict")
	return c
}

// arg is a command's single-valued argument key ("" when absent).
func arg(d *datadriven.TestData, key string) string {
	for _, a := range d.CmdArgs {
		if a.Key == key && len(a.Vals) > 0 {
			return a.Vals[0]
		}
	}
	return ""
}

// list is a command's argument key as a list (key=a,b,c or key=(a,b,c)); nil when absent.
func list(d *datadriven.TestData, key string) []string {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			var out []string
			for _, v := range a.Vals {
				out = append(out, strings.Split(v, ",")...)
			}
			return out
		}
	}
	return nil
}
