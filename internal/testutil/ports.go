package testutil

import (
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
)

// Ports come from below Linux's ephemeral range (32768-60999), where the kernel never assigns
// a port to a bind(":0") or an outgoing connection: a test passes the address to a program
// that binds it a moment later, and a port from the ephemeral range could be taken in between.
// Each port is handed out once per test process; the random start keeps the test processes
// of one `go test ./...` apart.
const (
	portLow  = 20000
	portHigh = 32768
)

var (
	portMu   sync.Mutex
	portNext = portLow + rand.IntN(portHigh-portLow)
	portUsed = map[int]bool{}
)

// FreePort returns a loopback TCP port below the ephemeral range that nothing listened on a
// moment ago and that this test process has not handed out before (for programs that take a
// port number, such as postgres -p).
func FreePort(t testing.TB) int {
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
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		portUsed[port] = true
		return port
	}
	t.Fatalf("no free port in %d-%d", portLow, portHigh-1)
	return 0
}

// FreeAddr returns "127.0.0.1:port" for a FreePort: for a server the test or another program
// starts, or for an address nothing listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}
