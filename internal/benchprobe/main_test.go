package main

import (
	"os"
	"testing"
)

func TestParseCPUSeconds(t *testing.T) {
	// A command name with spaces and a parenthesis, utime 250 and stime 130 ticks.
	stat := "4242 (siteward (x) exp) S 1 4242 4242 0 -1 4194560 1201 0 0 0 250 130 0 0 20 0 9 0 123 1000 200\n"
	got, err := parseCPUSeconds([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if got != 3.8 {
		t.Errorf("cpu seconds = %v, want 3.8", got)
	}
	if _, err := parseCPUSeconds([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("a truncated stat line parsed without error")
	}
}

func TestParsePeakRSS(t *testing.T) {
	status := "Name:\tsiteward-export\nVmPeak:\t 1265432 kB\nVmHWM:\t   28672 kB\nVmRSS:\t   27000 kB\n"
	got, err := parsePeakRSS([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if got != 28672 {
		t.Errorf("VmHWM = %d KiB, want 28672", got)
	}
	if _, err := parsePeakRSS([]byte("Name:\tx\n")); err == nil {
		t.Error("a status without VmHWM parsed without error")
	}
}

// TestProcReadersOnSelf reads this test process's own figures, so the /proc paths are right.
func TestProcReadersOnSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if cpu, err := cpuSeconds(os.Getpid()); err != nil || cpu < 0 {
		t.Errorf("cpuSeconds(self) = %v, %v", cpu, err)
	}
	if rss, err := peakRSS(os.Getpid()); err != nil || rss <= 0 {
		t.Errorf("peakRSS(self) = %v, %v", rss, err)
	}
}
