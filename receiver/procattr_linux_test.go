package receiver_test

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes a subprocess receive SIGKILL when the test process dies, so a test
// binary killed by a timeout leaves no receiver behind.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
