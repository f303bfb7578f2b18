//go:build !linux

package receiver_test

import "os/exec"

// dieWithTest: only Linux can tie a child's life to its parent; elsewhere t.Cleanup has to do.
func dieWithTest(*exec.Cmd) {}
