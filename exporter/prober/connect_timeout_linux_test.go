package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fullListener returns the address of a loopback socket whose accept queue is full, so
// Linux drops further SYNs and a connection attempt hangs as to a host that does not
// answer: a real connect timeout without leaving loopback.
func fullListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil { // never accepted: the queue fills at once
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	// Fill the queue: connections complete until it is full, then one hangs.
	for range 16 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return addr
			}
			t.Fatalf("filling the accept queue: %v", err)
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatal("the accept queue never filled: this kernel does not drop SYNs to a full listener")
	return ""
}

func TestHTTPConnectTimeout(t *testing.T) {
	addr := fullListener(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var result Result
	success := ProbeHTTP(ctx, "http://"+addr+"/", moduleFromYAML(t, "prober: http"), prometheus.NewRegistry(), &result, testLogger(t))
	gotType, gotReason, _ := result.Failure()
	if success || gotType != FailureTimeout || gotReason != ReasonConnectTimeout {
		t.Errorf("probe of a host that never answers the SYN: success %v, failure %s/%s; want %s/%s",
			success, gotType, gotReason, FailureTimeout, ReasonConnectTimeout)
	}
}
