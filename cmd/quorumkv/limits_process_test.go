package main

import (
	"bufio"
	"context"
	be "encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/api/wire"
	"github.com/quorumkv/quorumkv/client"
)

// Limits the hostile-input process test starts its servers with: a short
// frame timeout (the default is 30 s) and a small frame budget, so both
// are seen within the test.
const (
	hostileFrameTimeout = 2 * time.Second
	hostileWireBytes    = 40 << 20
)

// TestProcessHostileInput: what one client can send never makes a node
// hold memory by what it announces, and the node stays SERVING: a 255 MiB
// Put is refused by gRPC before it is read; framed connections announcing
// 255 MiB are closed on the header; many announcing frames within the limit
// hold no more than the node's frame budget; one that announces a frame and
// sends nothing is closed at the frame deadline; 2,000 idle connections do
// not slow a benchmark down.
func TestProcessHostileInput(t *testing.T) {
	pc := startProcCluster(t, 3, "--frame-read-timeout", hostileFrameTimeout.String(), "--wire-bytes", strconv.Itoa(hostileWireBytes))
	target := pc.procs[0]
	pid := target.cmd.Process.Pid
	cc, err := grpc.NewClient(target.listen, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(300<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	serving := func(t *testing.T) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health after hostile input: %v %v\n%s", h, err, target.log)
		}
	}

	t.Run("255 MiB put", func(t *testing.T) {
		before := vmRSS(t, pid)
		value := make([]byte, 255<<20)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := api.NewKVClient(cc).Put(ctx, &api.PutRequest{Key: []byte("huge"), Value: value})
		if c := status.Code(err); c != codes.ResourceExhausted && c != codes.InvalidArgument {
			t.Fatalf("255 MiB put: %v, want RESOURCE_EXHAUSTED or INVALID_ARGUMENT", err)
		}
		grew := vmRSS(t, pid) - before
		t.Logf("refused: %v; node RSS grew %d MiB", err, grew>>20)
		if grew > 64<<20 {
			t.Fatalf("node RSS grew %d MiB for a refused 255 MiB message", grew>>20)
		}
		serving(t)
	})

	t.Run("framed connections announcing 255 MiB", func(t *testing.T) {
		before := vmRSS(t, pid)
		for _, magic := range []string{wire.KVMagic, wire.PipeMagic} {
			start := time.Now()
			sent, err := announce(target.listen, magic, 255<<20, 250<<20)
			t.Logf("%s: %d MiB of 250 taken before the node closed the connection after %v: %v", magic, sent>>20, time.Since(start).Round(time.Millisecond), err)
			if err == nil {
				t.Fatalf("%s: the node read 250 MiB of a 255 MiB frame", magic)
			}
		}
		grew := vmRSS(t, pid) - before
		t.Logf("node RSS grew %d MiB for two connections", grew>>20)
		if grew > 256<<20/4 {
			t.Fatalf("node RSS grew %d MiB for two connections announcing 255 MiB", grew>>20)
		}
		serving(t)
	})

	t.Run("frames within the limit hold no more than the budget", func(t *testing.T) {
		// 24 connections each announce 5,000,000 bytes (under the client
		// message limit) and send all but the last byte: 120 MB in flight
		// if the node took them all, where its budget is 40 MiB.
		before := vmRSS(t, pid)
		const conns, frame = 24, 5_000_000
		var wg sync.WaitGroup
		var mu sync.Mutex
		var peak int64
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				if rss, err := readRSS(pid); err == nil && rss-before > peak {
					mu.Lock()
					peak = rss - before
					mu.Unlock()
				}
			}
		}()
		for range conns {
			wg.Go(func() { _, _ = announce(target.listen, wire.KVMagic, frame, frame-1) })
		}
		wg.Wait()
		close(stop)
		mu.Lock()
		defer mu.Unlock()
		t.Logf("node RSS peak growth %d MiB for %d connections announcing %d MB each (budget %d MiB)", peak>>20, conns, frame/1_000_000, hostileWireBytes>>20)
		// Frames that time out leave their buffers to the garbage collector,
		// which runs when the heap has doubled (GOGC=100): twice the budget,
		// and some slack for the connections' buffers.
		if peak > 2*hostileWireBytes+32<<20 {
			t.Fatalf("node RSS grew %d MiB, past twice the %d MiB frame budget and slack", peak>>20, hostileWireBytes>>20)
		}
		serving(t)
	})

	t.Run("announced frame never sent", func(t *testing.T) {
		c, err := net.Dial("tcp", target.listen)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		if _, err := c.Write(be.BigEndian.AppendUint32([]byte(wire.KVMagic), 1000)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, err = c.Read(make([]byte, 1))
		waited := time.Since(start)
		t.Logf("closed after %v (frame timeout %v): %v", waited.Round(time.Millisecond), hostileFrameTimeout, err)
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(fmt.Sprint(err), "reset") {
			t.Fatalf("connection not closed by the node: %v", err)
		}
		if waited < hostileFrameTimeout/2 || waited > 5*hostileFrameTimeout {
			t.Fatalf("closed after %v, want about the frame timeout %v", waited, hostileFrameTimeout)
		}
		serving(t)
	})

	t.Run("2,000 idle connections while a benchmark runs", func(t *testing.T) {
		cl := pc.client(0, 1, 2)
		base := benchLoop(t, cl, "base")
		idle := openIdle(t, target.listen, 2000)
		defer func() {
			for _, c := range idle {
				_ = c.Close()
			}
		}()
		loaded := benchLoop(t, cl, "idle")
		t.Logf("baseline: %d ops, p99 %v; with %d idle connections: %d ops, %d errors, p99 %v (%.2fx)",
			base.ops, base.p99, len(idle), loaded.ops, loaded.errors, loaded.p99, float64(loaded.p99)/float64(base.p99))
		if base.errors > 0 || loaded.errors > 0 {
			t.Fatalf("errors: %d baseline, %d with idle connections (%v)", base.errors, loaded.errors, loaded.firstErr)
		}
		if loaded.p99 > 3*base.p99 {
			t.Fatalf("p99 %v with idle connections, over 3x the baseline %v", loaded.p99, base.p99)
		}
		serving(t)
	})
}

// vmRSS is the resident set of process pid, in bytes.
func vmRSS(t *testing.T, pid int) int64 {
	rss, err := readRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	return rss
}

// readRSS reads VmRSS from /proc/<pid>/status.
func readRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// announce opens a framed connection with magic, announces a frame of n
// bytes and sends send of them (then waits for the node to close the
// connection, at most 20 s). It returns the bytes the node took and the
// error that ended the sending or, once all were sent, the wait (nil if the
// node answered or kept the connection open).
func announce(addr, magic string, n, send int) (int, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write(be.BigEndian.AppendUint32([]byte(magic), uint32(n))); err != nil {
		return 0, err
	}
	chunk := make([]byte, 1<<20)
	sent := 0
	for sent < send {
		w, err := c.Write(chunk[:min(len(chunk), send-sent)])
		sent += w
		if err != nil {
			return sent, err
		}
	}
	_, err = c.Read(make([]byte, 1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	return sent, err
}

// openIdle opens n connections to addr that stay idle: a third plain TCP
// connections that send nothing, a third framed client streams that send
// their magic only, a third HTTP/2 connections that send gRPC's preface
// only.
func openIdle(t *testing.T, addr string, n int) []net.Conn {
	var out []net.Conn
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		out = append(out, c)
		var hello string
		switch i % 3 {
		case 1:
			hello = wire.KVMagic
		case 2:
			hello = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
		}
		if _, err := io.WriteString(c, hello); err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
	}
	return out
}

type benchResult struct {
	ops, errors int
	p99         time.Duration
	firstErr    error
}

// benchLoop runs 16 clients of puts and gets (half each) for 3 s at most
// and 4,000 operations each at most, and returns their latency.
func benchLoop(t *testing.T, cl *client.Client, prefix string) benchResult {
	const clients, perClient, window = 16, 4000, 3 * time.Second
	var mu sync.Mutex
	var res benchResult
	var lat []time.Duration
	end := time.Now().Add(window)
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			var mine []time.Duration
			var errs int
			var first error
			for i := 0; i < perClient && time.Now().Before(end); i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				key := []byte(fmt.Sprintf("%s-%d-%d", prefix, w, i%50))
				start := time.Now()
				var err error
				if i%2 == 0 {
					_, err = cl.Put(ctx, key, []byte("value"))
				} else {
					_, err = cl.Get(ctx, key)
				}
				cancel()
				mine = append(mine, time.Since(start))
				if err != nil && !errors.Is(err, client.ErrNotFound) {
					errs++
					if first == nil {
						first = err
					}
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			res.errors += errs
			if res.firstErr == nil {
				res.firstErr = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(lat)
	res.ops = len(lat)
	if len(lat) > 0 {
		res.p99 = lat[len(lat)*99/100]
	}
	return res
}
