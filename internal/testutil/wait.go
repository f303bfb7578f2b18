package testutil

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// maxPollInterval bounds the pause between two checks of WaitFor: short enough not to slow a
// test down, long enough not to load a shared machine with queries.
const maxPollInterval = 250 * time.Millisecond

// WaitFor polls cond until it reports done, and fails the test when timeout has passed,
// naming what it waited for and what cond saw last. The pause between checks starts at 10ms
// and doubles up to maxPollInterval, so fast conditions return quickly. cond runs on the
// test's goroutine and may itself end the test (t.Fatal) when waiting is pointless.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (done bool, seen string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := 10 * time.Millisecond
	for {
		done, seen := cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s still waiting for %s; last seen: %s", timeout, what, seen)
		}
		time.Sleep(pause)
		pause = min(2*pause, maxPollInterval)
	}
}

// WaitHTTPOK waits until a GET of url answers 200 OK (a server's /-/ready or /-/healthy).
func WaitHTTPOK(t testing.TB, timeout time.Duration, url string) {
	t.Helper()
	WaitFor(t, timeout, "200 OK from "+url, func() (bool, string) {
		resp, err := http.Get(url)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Sprintf("status %s", resp.Status)
	})
}
