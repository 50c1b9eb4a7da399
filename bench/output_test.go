package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

func TestHDRLogReadsBack(t *testing.T) {
	c := newFakeClock()
	d := newFakeDriver(c, 2*time.Millisecond)
	cfg := testConfig(c, "a")
	cfg.Ops, cfg.HDRDir = 300, t.TempDir()
	rep := mustRun(t, cfg, d)
	for _, op := range []string{"read", "update"} {
		f, err := os.Open(filepath.Join(cfg.HDRDir, op+".hlog"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		lr := hdr.NewHistogramLogReader(f)
		var total int64
		for {
			h, err := lr.NextIntervalHistogram()
			if err != nil {
				t.Fatal(err)
			}
			if h == nil {
				break
			}
			if h.Tag() != op {
				t.Errorf("tag %q in %s.hlog", h.Tag(), op)
			}
			if m := h.Max(); !h.ValuesAreEquivalent(m, int64(2*time.Millisecond)) {
				t.Errorf("%s max %v, want 2ms", op, time.Duration(m))
			}
			total += h.TotalCount()
		}
		if want := rep.Results[op].Count; total != want || total == 0 {
			t.Errorf("%s.hlog holds %d values, report says %d", op, total, want)
		}
	}
}

func TestTextOutputAndPlot(t *testing.T) {
	c := newFakeClock()
	d := newFakeDriver(c, time.Millisecond)
	cfg := testConfig(c, "b")
	cfg.Ops = 100
	rep := mustRun(t, cfg, d)
	// Pretend there were three intervals, to draw lines.
	iv := rep.Intervals[0]
	rep.Intervals = []Interval{iv, iv, iv}
	for i := range rep.Intervals {
		rep.Intervals[i].ElapsedS = float64(i + 1)
	}
	rep.Settings.Driver = "fake"

	var text bytes.Buffer
	if err := WriteSettings(&text, rep.Settings); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"workload      b (read 95%, update 5%)", "zipfian (theta 0.99)", "read", "update", "total", "p99.9 ms", "not_found"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, text.String())
		}
	}

	png := filepath.Join(t.TempDir(), "run.png")
	if err := WritePlot(png, "test", NamedReport{Name: "fake", Report: rep}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Error("plot is not a PNG")
	}
	if err := WritePlot(filepath.Join(t.TempDir(), "run.svg"), "test", NamedReport{Name: "fake", Report: rep}); err == nil {
		t.Error("plot to .svg accepted")
	}
}

// TestEtcdErrorClasses: etcd's own unavailable errors (clientv3 turns
// statuses into its error type) count as unavailable, others pass through.
func TestEtcdErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{rpctypes.ErrNoLeader, ClassUnavailable},
		{rpctypes.ErrLeaderChanged, ClassUnavailable},
		{rpctypes.ErrKeyNotFound, ClassOther},
		{context.DeadlineExceeded, ClassTimeout},
	} {
		if got := Classify(etcdError(tc.err)); got != tc.want {
			t.Errorf("%v: class %s, want %s", tc.err, got, tc.want)
		}
	}
}
