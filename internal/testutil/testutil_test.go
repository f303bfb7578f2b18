package testutil

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and ends only the goroutine
// it runs on, so a test can check how a helper fails.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with r on a goroutine of its own and waits for it to end.
func (r *fatalRecorder) run(f func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
}

func TestWaitFor(t *testing.T) {
	t.Run("returns once the condition holds", func(t *testing.T) {
		calls := 0
		r := &fatalRecorder{TB: t}
		r.run(func(tb testing.TB) {
			WaitFor(tb, time.Minute, "the third call", func() (bool, string) {
				calls++
				return calls == 3, strconv.Itoa(calls)
			})
		})
		if r.msg != "" || calls != 3 {
			t.Errorf("failure %q after %d calls, want none after 3", r.msg, calls)
		}
	})
	t.Run("fails naming what it waited for and what it saw last", func(t *testing.T) {
		calls := 0
		r := &fatalRecorder{TB: t}
		r.run(func(tb testing.TB) {
			WaitFor(tb, 50*time.Millisecond, "the impossible", func() (bool, string) {
				calls++
				return false, "call " + strconv.Itoa(calls)
			})
		})
		want := fmt.Sprintf("after 50ms still waiting for the impossible; last seen: call %d", calls)
		if calls < 2 || r.msg != want {
			t.Errorf("failure %q after %d calls, want %q after at least 2", r.msg, calls, want)
		}
	})
}

func TestWaitHTTPOK(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if requests.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	WaitHTTPOK(t, time.Minute, srv.URL)
	if n := requests.Load(); n != 3 {
		t.Errorf("%d requests, want 3 (two 503s, then 200)", n)
	}

	r := &fatalRecorder{TB: t}
	r.run(func(tb testing.TB) { WaitHTTPOK(tb, 50*time.Millisecond, srv.URL+"/") })
	if r.msg != "" {
		t.Errorf("a server answering 200 failed: %s", r.msg)
	}
	closed := FreeAddr(t)
	r.run(func(tb testing.TB) { WaitHTTPOK(tb, 50*time.Millisecond, "http://"+closed) })
	if !strings.Contains(r.msg, "200 OK from http://"+closed) || !strings.Contains(r.msg, "refused") {
		t.Errorf("failure %q, want it to name the URL and the connection error", r.msg)
	}
}

func TestFreeAddr(t *testing.T) {
	addr := FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("FreeAddr = %q, want a loopback address", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on the free address: %v", err)
	}
	l.Close()

	port := FreePort(t)
	if port <= 0 || port > 65535 {
		t.Fatalf("FreePort = %d, want a TCP port", port)
	}
	l, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("listening on the free port: %v", err)
	}
	l.Close()
}

func TestFreeAddrBelowEphemeralOnce(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		addr := FreeAddr(t)
		host, portText, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(portText)
		if host != "127.0.0.1" || port < portLow || port >= portHigh {
			t.Errorf("FreeAddr = %q, want 127.0.0.1 and a port in %d-%d", addr, portLow, portHigh-1)
		}
		if seen[addr] {
			t.Errorf("%s handed out twice", addr)
		}
		seen[addr] = true
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listening on %s: %v", addr, err)
		}
		l.Close()
	}
}
