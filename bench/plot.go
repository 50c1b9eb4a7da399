package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// NamedReport labels a report in a plot.
type NamedReport struct {
	Name   string
	Report *Report
}

// WritePlot draws throughput (top) and p99 latency (bottom) over time as a
// PNG. With one report there is a line per operation (and the total); with
// several, one line (the total) per report.
func WritePlot(path, title string, runs ...NamedReport) error {
	type series struct {
		name      string
		ops, p99  plotter.XYs
		hasValues bool
	}
	var all []series
	add := func(name string, ivs []Interval, pick func(Interval) (opsPerSec, p99 float64, ok bool)) {
		s := series{name: name}
		for _, iv := range ivs {
			o, p, ok := pick(iv)
			if !ok {
				continue
			}
			s.ops = append(s.ops, plotter.XY{X: iv.ElapsedS, Y: o})
			s.p99 = append(s.p99, plotter.XY{X: iv.ElapsedS, Y: p})
			s.hasValues = true
		}
		if s.hasValues {
			all = append(all, s)
		}
	}
	total := func(iv Interval) (float64, float64, bool) { return iv.OpsPerSec, iv.P99Ms, true }
	if len(runs) == 1 {
		r := runs[0].Report
		for _, op := range Ops() {
			if _, ok := r.Results[op.String()]; !ok {
				continue
			}
			add(op.String(), r.Intervals, func(iv Interval) (float64, float64, bool) {
				o, ok := iv.PerOp[op.String()]
				return o.OpsPerSec, o.P99Ms, ok
			})
		}
		if len(r.Results) > 1 {
			add("total", r.Intervals, total)
		}
	} else {
		for _, run := range runs {
			add(run.Name, run.Report.Intervals, total)
		}
	}
	if len(all) == 0 {
		return fmt.Errorf("plot: no intervals to draw")
	}
	if !strings.HasSuffix(strings.ToLower(path), ".png") {
		return fmt.Errorf("plot: %s: only PNG is supported", path)
	}

	top, bottom := plot.New(), plot.New()
	top.Title.Text = title
	top.Y.Label.Text = "ops/s"
	top.Y.Min = 0
	bottom.X.Label.Text = "elapsed (s)"
	bottom.Y.Label.Text = "p99 latency (ms)"
	bottom.Y.Min = 0
	for i, s := range all {
		for _, pl := range []struct {
			p   *plot.Plot
			xys plotter.XYs
		}{{top, s.ops}, {bottom, s.p99}} {
			line, points, err := plotter.NewLinePoints(pl.xys)
			if err != nil {
				return err
			}
			line.Color = plotutil.Color(i)
			line.Dashes = plotutil.Dashes(i)
			points.Color = plotutil.Color(i)
			points.Shape = plotutil.Shape(i)
			points.Radius = vg.Points(1.5)
			pl.p.Add(line, points)
			if pl.p == top {
				pl.p.Legend.Add(s.name, line, points)
			}
		}
	}
	top.Legend.Top = true
	top.Legend.Left = true
	top.Add(plotter.NewGrid())
	bottom.Add(plotter.NewGrid())

	img := vgimg.New(9*vg.Inch, 7*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 3 * vg.Millimeter, PadTop: 2 * vg.Millimeter,
		PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	plots := [][]*plot.Plot{{top}, {bottom}}
	canvases := plot.Align(plots, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])

	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
