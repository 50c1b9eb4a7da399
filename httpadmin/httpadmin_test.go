package httpadmin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type readiness struct{ err error }

func (r readiness) Ready() error { return r.err }

func (r readiness) RingStatus(context.Context) (RingStatus, error) { return RingStatus{}, r.err }

func TestProbes(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		ready      error
		code       int
		body       string
	}{
		{"live while not ready", "/livez", errors.New("joining"), 200, "ok"},
		{"ready", "/readyz", nil, 200, "ok"},
		{"not ready says why", "/readyz", errors.New("this node is joining"), 503, "not ready: this node is joining"},
		{"metrics", "/metrics", nil, 200, "go_goroutines"},
		{"unknown path", "/nope", nil, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector())
			rec := httptest.NewRecorder()
			Handler(readiness{tc.ready}, reg).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
				t.Fatalf("GET %s: %d %q, want %d containing %q", tc.path, rec.Code, rec.Body.String(), tc.code, tc.body)
			}
		})
	}
}

func TestDefaultAddr(t *testing.T) {
	for _, tc := range []struct {
		listen, want string
		err          bool
	}{
		{"127.0.0.1:7101", "127.0.0.1:7301", false},
		{"[::1]:7102", "[::1]:7302", false},
		{":7101", ":7301", false},
		{"127.0.0.1:0", "", true},
		{"127.0.0.1:65400", "", true},
		{"no-port", "", true},
	} {
		got, err := DefaultAddr(tc.listen)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("DefaultAddr(%q) = %q, %v; want %q (error %v)", tc.listen, got, err, tc.want, tc.err)
		}
	}
}
