package httpadmin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Source is what the admin port reads from a node.
type Source interface {
	// Ready is nil when the node serves: a valid member of a formed ring
	// with its stores open; else the reason it does not.
	Ready() error
	// RingSource yields the ring as the node sees it (/ring, /ring.json).
	RingSource
}

// readHeaderTimeout bounds a request's headers, so idle connections cannot
// pile up on the port.
const readHeaderTimeout = 5 * time.Second

// Handler routes the admin endpoints.
func Handler(src Source, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := src.Ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /ring", serveRingPage(src))
	mux.HandleFunc("GET /ring.json", serveRingJSON(src))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Server is a running admin port.
type Server struct {
	srv *http.Server
	lis net.Listener
}

// Listen binds addr and serves h on it until Close.
func Listen(addr string, h http.Handler) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{srv: &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout}, lis: lis}
	go func() {
		if err := s.srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = lis.Close()
		}
	}()
	return s, nil
}

// Addr is the address the port listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Close stops the port, letting requests in progress finish for up to a
// second.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}

// DefaultAddr is the admin port a node with gRPC address listen uses when
// none is given: the same host, port + 200 (7101 → 7301).
func DefaultAddr(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", err
	}
	var p int
	if _, err := fmt.Sscanf(port, "%d", &p); err != nil || p <= 0 {
		return "", fmt.Errorf("port %q of %s is not a number", port, listen)
	}
	if p+200 > 65535 {
		return "", fmt.Errorf("port %d + 200 is past 65535: give --http", p)
	}
	return net.JoinHostPort(host, fmt.Sprint(p+200)), nil
}
