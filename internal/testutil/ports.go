package testutil

import (
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
)

// FreePort returns a loopback TCP port the kernel handed out and that was free a moment ago
// (for programs that take a port number, such as postgres -p).
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeAddr returns "127.0.0.1:port" for a FreePort: for a server the test starts itself, or
// for an address nothing listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

// Ports from FreeAddrBelowEphemeral come from below Linux's ephemeral range (32768-60999),
// where the kernel never assigns a port to a bind(":0") or an outgoing connection, and each is
// handed out once per test process.
const (
	portLow  = 20000
	portHigh = 32768
)

var (
	portMu   sync.Mutex
	portNext = portLow + rand.IntN(portHigh-portLow)
	portUsed = map[int]bool{}
)

// FreeAddrBelowEphemeral returns "127.0.0.1:port" for a port below the ephemeral range that no
// one listened on a moment ago and that this test process has not handed out before. Use it
// for addresses passed to other programs that bind them later: a port from the ephemeral range
// (FreeAddr) could be taken, between the pick and the program's bind, by any listener on ":0"
// or any outgoing connection.
func FreeAddrBelowEphemeral(t testing.TB) string {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range portHigh - portLow {
		port := portNext
		portNext++
		if portNext == portHigh {
			portNext = portLow
		}
		if portUsed[port] {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		l.Close()
		portUsed[port] = true
		return addr
	}
	t.Fatalf("no free port in %d-%d", portLow, portHigh-1)
	return ""
}
