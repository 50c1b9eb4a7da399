package bench

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// hdrLogs writes one HdrHistogram interval log per operation
// (DIR/<op>.hlog: latencies in nanoseconds, one histogram per interval),
// readable by HdrHistogram's HistogramLogReader and its plotting tools.
type hdrLogs struct {
	dir   string
	start time.Time
	files [numOps]*os.File
	bufs  [numOps]*bufio.Writer
	logs  [numOps]*hdr.HistogramLogWriter
}

func newHDRLogs(dir string, start time.Time) (*hdrLogs, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &hdrLogs{dir: dir, start: start}, nil
}

// write logs the interval [from, to) of every operation that has one.
func (l *hdrLogs) write(stats [numOps]*opStats, from, to time.Time) error {
	for op, s := range stats {
		if s == nil {
			continue
		}
		if l.logs[op] == nil {
			if err := l.open(Op(op)); err != nil {
				return err
			}
		}
		h := s.hist
		h.SetTag(Op(op).String())
		h.SetStartTimeMs(from.UnixMilli())
		h.SetEndTimeMs(to.UnixMilli())
		if err := l.logs[op].OutputIntervalHistogram(h); err != nil {
			return err
		}
	}
	return nil
}

func (l *hdrLogs) open(op Op) error {
	f, err := os.Create(filepath.Join(l.dir, op.String()+".hlog"))
	if err != nil {
		return err
	}
	b := bufio.NewWriter(f)
	w := hdr.NewHistogramLogWriter(b)
	ms := l.start.UnixMilli()
	w.SetBaseTime(ms)
	err = errors.Join(
		w.OutputLogFormatVersion(),
		w.OutputComment(fmt.Sprintf("[quorumkv bench: %s latencies in nanoseconds]", op)),
		w.OutputStartTime(ms),
		w.OutputBaseTime(ms),
		w.OutputLegend(),
	)
	l.files[op], l.bufs[op], l.logs[op] = f, b, w
	return err
}

func (l *hdrLogs) close() error {
	var errs []error
	for op, f := range l.files {
		if f != nil {
			errs = append(errs, l.bufs[op].Flush(), f.Close())
		}
	}
	return errors.Join(errs...)
}
