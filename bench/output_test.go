package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"google.golang.org/protobuf/encoding/protowire"
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

// The etcd driver decodes RangeResponse by hand: check it against a message
// built field by field (header, then kvs {key, create_revision,
// mod_revision, version, value}, then count).
func TestEtcdWireDecoding(t *testing.T) {
	var kv []byte
	kv = protowire.AppendTag(kv, 1, protowire.BytesType)
	kv = protowire.AppendBytes(kv, []byte("k"))
	kv = protowire.AppendTag(kv, 2, protowire.VarintType)
	kv = protowire.AppendVarint(kv, 5)
	kv = protowire.AppendTag(kv, 3, protowire.VarintType)
	kv = protowire.AppendVarint(kv, 77)
	kv = protowire.AppendTag(kv, 5, protowire.BytesType)
	kv = protowire.AppendBytes(kv, []byte("value"))
	var header []byte
	header = protowire.AppendTag(header, 1, protowire.VarintType)
	header = protowire.AppendVarint(header, 12345)
	header = protowire.AppendTag(header, 3, protowire.VarintType)
	header = protowire.AppendVarint(header, 99)
	var resp []byte
	resp = protowire.AppendTag(resp, 1, protowire.BytesType)
	resp = protowire.AppendBytes(resp, header)
	resp = protowire.AppendTag(resp, 2, protowire.BytesType)
	resp = protowire.AppendBytes(resp, kv)
	resp = protowire.AppendTag(resp, 4, protowire.VarintType)
	resp = protowire.AppendVarint(resp, 1)

	got, ok, err := firstField(resp, 2)
	if err != nil || !ok || !bytes.Equal(got, kv) {
		t.Fatalf("kvs = %x, %v, %v", got, ok, err)
	}
	if rev, ok, err := varintField(got, 3); err != nil || !ok || rev != 77 {
		t.Errorf("mod_revision = %d, %v, %v; want 77", rev, ok, err)
	}
	h, _, _ := firstField(resp, 1)
	if rev, _, _ := varintField(h, 3); rev != 99 {
		t.Errorf("header revision %d, want 99", rev)
	}
	if _, ok, err := firstField(resp, 7); err != nil || ok {
		t.Errorf("missing field: %v %v", ok, err)
	}
	if _, _, err := firstField([]byte{0x12, 0x05, 0x01}, 2); err == nil {
		t.Error("truncated message accepted")
	}
}
