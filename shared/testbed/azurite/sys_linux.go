package azurite

import "syscall"

// sysProcAttr asks the kernel to kill the server if the Go process dies
// without calling Stop (a test binary killed on timeout), so no orphaned
// node process keeps ~130 MB and a port.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
