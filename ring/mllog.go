package ring

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// slogWriter turns memberlist's "[LEVEL] memberlist: msg" lines into slog
// records, so memberlist never writes to stderr on its own.
type slogWriter struct{ l *slog.Logger }

func newMemberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(slogWriter{l}, "", 0)
}

var mlLevels = []struct {
	prefix string
	level  slog.Level
}{
	{"[DEBUG] ", slog.LevelDebug},
	{"[INFO] ", slog.LevelInfo},
	{"[WARN] ", slog.LevelWarn},
	{"[ERR] ", slog.LevelError},
	{"[ERROR] ", slog.LevelError},
}

func (w slogWriter) Write(p []byte) (int, error) {
	msg := bytes.TrimRight(p, "\n")
	level := slog.LevelInfo
	for _, lv := range mlLevels {
		if bytes.HasPrefix(msg, []byte(lv.prefix)) {
			level, msg = lv.level, msg[len(lv.prefix):]
			break
		}
	}
	msg = bytes.TrimPrefix(msg, []byte("memberlist: "))
	if level > slog.LevelDebug && bytes.Contains(msg, []byte("use of closed network connection")) {
		level = slog.LevelDebug // noise of our own shutdown
	}
	if w.l.Enabled(context.Background(), level) {
		w.l.Log(context.Background(), level, string(msg), "component", "memberlist")
	}
	return len(p), nil
}
