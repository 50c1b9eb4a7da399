package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/quorumkv/quorumkv/httpadmin"
)

// chromiumPath is the headless browser the ring page test drives: Debian's
// chromium (.ci/run installs it). Without it the test skips, or fails
// under CI.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is missing (.ci/run installs it: apt-get install chromium)")
	}
	t.Skip("needs chromium (apt-get install chromium) to render /ring headless")
	return ""
}

// ringStatusCLI is `quorumkv ring status -o json` asked of endpoint.
func ringStatusCLI(pc *procCluster, endpoint string) (statusOutput, error) {
	out, code := pc.cli("ring", "status", "-o", "json", "--endpoints", endpoint)
	if code != 0 {
		return statusOutput{}, fmt.Errorf("ring status exited %d: %s", code, out)
	}
	var st statusOutput
	return st, json.Unmarshal([]byte(out), &st)
}

// pageRows are the member rows of the /ring page in the browser, a row
// per member, a string per cell, as the page shows them.
const pageRowsJS = `Array.from(document.querySelectorAll("#members tbody tr")).map(tr => Array.from(tr.cells).map(td => td.innerText))`

// rect is an element's box in CSS pixels.
type rect struct{ X, Y, W, H float64 }

// pageRectsJS are the boxes of each member's first cell (its id) and of
// the verdict, with the device pixel ratio.
const pageRectsJS = `(() => {
  const box = e => { const r = e.getBoundingClientRect(); return {X: r.x, Y: r.y, W: r.width, H: r.height}; };
  return {
    ids: Array.from(document.querySelectorAll("#members tbody tr")).map(tr => box(tr.cells[0])),
    verdict: box(document.getElementById("verdict")),
    ratio: window.devicePixelRatio,
  };
})()`

type pageRects struct {
	IDs     []rect  `json:"ids"`
	Verdict rect    `json:"verdict"`
	Ratio   float64 `json:"ratio"`
}

// darkPixels counts the pixels of img inside r (CSS pixels × ratio) dark
// enough to be text (luma below half).
func darkPixels(img image.Image, r rect, ratio float64) int {
	b := image.Rect(int(r.X*ratio), int(r.Y*ratio), int((r.X+r.W)*ratio), int((r.Y+r.H)*ratio)).Intersect(img.Bounds())
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if (299*cr+587*cg+114*cb)/1000 < 0x8000 {
				n++
			}
		}
	}
	return n
}

// lumaSpread is the standard deviation of img's luma (0–255): 0 for a
// blank image.
func lumaSpread(img image.Image) float64 {
	b := img.Bounds()
	var sum, sq float64
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			l := float64(299*cr+587*cg+114*cb) / 1000 / 257
			sum += l
			sq += l * l
		}
	}
	n := float64(b.Dx() * b.Dy())
	mean := sum / n
	v := sq/n - mean*mean
	if v <= 0 {
		return 0
	}
	return math.Sqrt(v)
}

// TestProcessRingPage: a node's admin port serves /ring, the members
// `ring status` lists with the same verdict, and /ring.json the same
// data. Headless Chromium renders the page: with script off (the server's
// table) and on (after its script refreshed it from /ring.json) it shows
// every member and the verdict, the two agree, and the screenshot has
// each member's id and the verdict painted in it. When n3 dies, the open
// page says so within a few refreshes, as `ring status` does.
//
// Run alone: go test -run TestProcessRingPage ./cmd/quorumkv/
func TestProcessRingPage(t *testing.T) {
	chrome := chromiumPath(t)
	pc := startProcCluster(t, 3)
	n1 := pc.procs[0]

	// What `ring status` shows, once the ring has settled.
	var cli statusOutput
	waitFor(t, 30*time.Second, func() error {
		var err error
		if cli, err = ringStatusCLI(pc, n1.listen); err != nil {
			return err
		}
		if !strings.HasSuffix(cli.Verdict, " — healthy") {
			return fmt.Errorf("ring status verdict %q", cli.Verdict)
		}
		return nil
	})

	// /ring.json: the fields, and the members and verdict of `ring status`.
	body, code := httpGet(t, "http://"+n1.http+"/ring.json")
	if code != http.StatusOK {
		t.Fatalf("/ring.json: %d %s", code, body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatalf("/ring.json does not parse: %v\n%s", err, body)
	}
	for _, k := range []string{"node", "replicas", "partitions", "epoch", "members", "transfers", "verdict", "time"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("/ring.json has no %q", k)
		}
	}
	var rj httpadmin.RingStatus
	if err := json.Unmarshal([]byte(body), &rj); err != nil {
		t.Fatal(err)
	}
	if rj.Node != "n1" || rj.Replicas != cli.Replicas || rj.Partitions != cli.Partitions || rj.Verdict != cli.Verdict {
		t.Errorf("/ring.json node %q replicas %d partitions %d verdict %q; ring status: %d, %d, %q",
			rj.Node, rj.Replicas, rj.Partitions, rj.Verdict, cli.Replicas, cli.Partitions, cli.Verdict)
	}
	if len(rj.Members) != len(cli.Members) {
		t.Fatalf("/ring.json members %+v, ring status %+v", rj.Members, cli.Members)
	}
	for i, m := range rj.Members {
		c := cli.Members[i]
		if m.ID != c.ID || m.Address != c.Address || m.Status != c.Status || m.State != c.State || m.Partitions != c.Partitions ||
			m.Owned != c.Owned || m.HintsPending != c.HintsPending || m.Zone != "" || m.TransfersInFlight != 0 {
			t.Errorf("/ring.json member %+v, ring status %+v", m, c)
		}
	}

	// The browser: one process for the test, bounded; each step bounded
	// again.
	root, stop := context.WithTimeout(context.Background(), 3*time.Minute)
	defer stop()
	actx, cancel := chromedp.NewExecAllocator(root, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 900))...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	defer cancel()
	started := time.Now()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", chrome, err)
	}
	t.Logf("chromium started in %v", time.Since(started).Round(time.Millisecond))
	step := func(ctx context.Context, d time.Duration) context.Context {
		ctx, cancel := context.WithTimeout(ctx, d)
		t.Cleanup(cancel)
		return ctx
	}
	url := "http://" + n1.http + "/ring"

	// Script off: the table and the verdict come from the server.
	noJS, cancel := chromedp.NewContext(bctx)
	defer cancel()
	if err := chromedp.Do(step(noJS, 30*time.Second),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}),
		chromedp.Navigate(url),
		chromedp.WaitVisible("#verdict"),
	); err != nil {
		t.Fatalf("/ring without script: %v", err)
	}
	serverRows, err := chromedp.Run(step(noJS, 10*time.Second), chromedp.Evaluate[[][]string](pageRowsJS))
	if err != nil {
		t.Fatal(err)
	}
	serverText, err := chromedp.Run(step(noJS, 10*time.Second), chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	checkText := func(what, text string, want statusOutput) {
		t.Helper()
		for _, m := range want.Members {
			if !strings.Contains(text, m.ID) || !strings.Contains(text, m.Address) {
				t.Errorf("%s does not show member %s (%s):\n%s", what, m.ID, m.Address, text)
			}
		}
		if !strings.Contains(text, want.Verdict) {
			t.Errorf("%s does not show the verdict %q:\n%s", what, want.Verdict, text)
		}
	}
	checkText("/ring without script", serverText, cli)
	if len(serverRows) != len(cli.Members) {
		t.Fatalf("/ring without script: rows %q, want one per member of %+v", serverRows, cli.Members)
	}
	for i, row := range serverRows {
		if row[0] != cli.Members[i].ID || row[1] != "-" || row[3] != "up" || row[4] != "valid" {
			t.Errorf("/ring without script, row %d: %q", i, row)
		}
	}

	// Script on: the page refreshes itself from /ring.json and renders
	// the rows as the server does.
	page, cancel := chromedp.NewContext(bctx)
	defer cancel()
	var excMu sync.Mutex
	var exceptions []string
	if err := chromedp.Listen(page, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			excMu.Lock()
			exceptions = append(exceptions, (&chromedp.ExceptionError{ExceptionDetails: e.ExceptionDetails}).Error())
			excMu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(step(page, 30*time.Second), chromedp.Navigate(url), chromedp.WaitVisible("#verdict")); err != nil {
		t.Fatalf("/ring: %v", err)
	}
	if _, err := chromedp.Run(step(page, 20*time.Second),
		chromedp.Poll[bool](`Number(document.body.getAttribute("data-refreshed")) >= 1`, chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		t.Fatalf("/ring: the script never refreshed the page: %v", err)
	}
	text, err := chromedp.Run(step(page, 10*time.Second), chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	checkText("/ring", text, cli)
	rows, err := chromedp.Run(step(page, 10*time.Second), chromedp.Evaluate[[][]string](pageRowsJS))
	if err != nil {
		t.Fatal(err)
	}
	// The last exchange moves on; every other cell is the server's.
	mask := func(rows [][]string) [][]string {
		out := make([][]string, len(rows))
		for i, r := range rows {
			out[i] = slices.Clone(r)
			if len(r) > 8 {
				out[i][8] = "…"
			}
		}
		return out
	}
	if fmt.Sprint(mask(rows)) != fmt.Sprint(mask(serverRows)) {
		t.Errorf("rows rendered by the script differ from the server's:\n%q\n%q", rows, serverRows)
	}

	// The screenshot: a PNG of the viewport, not blank, with each
	// member's id and the verdict painted.
	shot, err := chromedp.Run(step(page, 30*time.Second), chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	keepScreenshot(t, "ring.png", shot)
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 640 || b.Dy() < 400 || b.Dx() > 8000 || b.Dy() > 8000 {
		t.Fatalf("screenshot is %v", b)
	}
	if s := lumaSpread(img); s < 5 {
		t.Fatalf("the screenshot is blank (luma spread %.2f)", s)
	}
	rects, err := chromedp.Run(step(page, 10*time.Second), chromedp.Evaluate[pageRects](pageRectsJS))
	if err != nil {
		t.Fatal(err)
	}
	if len(rects.IDs) != len(cli.Members) || rects.Ratio <= 0 {
		t.Fatalf("boxes %+v for %d members", rects, len(cli.Members))
	}
	for i, r := range rects.IDs {
		if n := darkPixels(img, r, rects.Ratio); n < 10 {
			t.Errorf("the screenshot shows nothing in member %s's id cell %+v (%d dark pixels)", cli.Members[i].ID, r, n)
		}
	}
	if n := darkPixels(img, rects.Verdict, rects.Ratio); n < 200 {
		t.Errorf("the screenshot shows no verdict in %+v (%d dark pixels)", rects.Verdict, n)
	}
	// Far right, below the table: the page's background.
	if n := darkPixels(img, rect{X: 1100, Y: 600, W: 150, H: 200}, rects.Ratio); n != 0 {
		t.Errorf("%d dark pixels where the page has nothing", n)
	}

	// n3 dies: the open page turns to it, and says what `ring status` says.
	pc.kill(2)
	var down statusOutput
	waitFor(t, 30*time.Second, func() error {
		var err error
		if down, err = ringStatusCLI(pc, n1.listen); err != nil {
			return err
		}
		if !strings.HasPrefix(down.Verdict, "2 up, 1 down") {
			return fmt.Errorf("ring status verdict %q", down.Verdict)
		}
		return nil
	})
	verdict, err := chromedp.Run(step(page, 30*time.Second),
		chromedp.Poll[string](`(t => t.startsWith("2 up, 1 down") && document.querySelector("#members tbody tr.down") && t)(document.getElementById("verdict").textContent)`,
			chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(25*time.Second)))
	if err != nil {
		t.Fatalf("/ring never showed n3 down: %v", err)
	}
	if verdict != down.Verdict {
		t.Errorf("/ring says %q once n3 is down, ring status %q", verdict, down.Verdict)
	}
	if rows, err := chromedp.Run(step(page, 10*time.Second), chromedp.Evaluate[[][]string](pageRowsJS)); err != nil || len(rows) != 3 ||
		rows[2][0] != "n3" || rows[2][3] != "down" || rows[2][7] != "?" || rows[2][9] != "?" {
		t.Errorf("rows once n3 is down: %q (%v)", rows, err)
	}
	if shot, err := chromedp.Run(step(page, 30*time.Second), chromedp.CaptureScreenshot()); err == nil {
		keepScreenshot(t, "ring-n3-down.png", shot)
	}
	excMu.Lock()
	defer excMu.Unlock()
	if len(exceptions) > 0 {
		t.Errorf("the page's script threw: %q", exceptions)
	}
}

// keepScreenshot writes a screenshot to $QUORUMKV_SCREENSHOTS when set, and
// to a directory it keeps when the test fails (its path is logged).
func keepScreenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	if dir := os.Getenv("QUORUMKV_SCREENSHOTS"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		dir, err := os.MkdirTemp("", "quorumkv-ringpage-")
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), png, 0o644)
		}
		if err != nil {
			t.Logf("screenshot %s not kept: %v", name, err)
			return
		}
		t.Logf("screenshot kept: %s", filepath.Join(dir, name))
	})
}
