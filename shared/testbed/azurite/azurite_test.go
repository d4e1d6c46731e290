package azurite

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func answers(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// createTable makes a table and reports the status (204 new, 409 exists).
func createTable(t *testing.T, in *Instance, name string) int {
	t.Helper()
	svc, err := aztables.NewServiceClientFromConnectionString(in.ConnectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.CreateTable(context.Background(), name, nil)
	var re *azcore.ResponseError
	switch {
	case err == nil:
		return http.StatusNoContent
	case errors.As(err, &re):
		return re.StatusCode
	}
	t.Fatal(err)
	return 0
}

func TestStartStopRestart(t *testing.T) {
	in := ForTest(t)
	if !answers(in.Port) {
		t.Fatal("port not answering after Start")
	}
	wantCS := "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + AccountKey +
		";TableEndpoint=http://127.0.0.1:" + strconv.Itoa(in.Port) + "/devstoreaccount1;"
	if in.ConnectionString != wantCS {
		t.Fatalf("connection string %q", in.ConnectionString)
	}
	if got := createTable(t, in, "probe"); got != http.StatusNoContent {
		t.Fatalf("create table: %d", got)
	}
	if got := createTable(t, in, "probe"); got != http.StatusConflict {
		t.Fatalf("create table twice: %d, want 409", got)
	}
	pid := in.proc.cmd.Process.Pid

	if err := in.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Fatal("old server still running after Restart")
	}
	if !answers(in.Port) {
		t.Fatal("not answering on the same port after Restart")
	}
	if got := createTable(t, in, "probe"); got != http.StatusNoContent {
		t.Fatalf("after restart create table: %d, want success (in-memory data lost)", got)
	}

	pid = in.proc.cmd.Process.Pid
	if err := in.Stop(); err != nil {
		t.Fatal(err)
	}
	// The PID we held is the node server itself: it is gone and the port closed.
	if alive(pid) {
		t.Fatal("server process still running after Stop")
	}
	if answers(in.Port) {
		t.Fatal("port still answering after Stop")
	}
	if err := in.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestFixedPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	// Someone else listens there: Start must refuse, not mistake the other
	// listener for Azurite.
	_, err = Start(context.Background(), Options{Port: port})
	if err == nil {
		t.Fatal("Start succeeded on a port in use")
	}
	t.Logf("error: %v", err)
}

func TestMissingBinary(t *testing.T) {
	dir := t.TempDir()
	_, err := Start(context.Background(), Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "make deps") {
		t.Fatalf("err %v, want a hint to run make deps", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err %v does not wrap fs.ErrNotExist", err)
	}
}

// With a Location, a restart is an outage, not a data loss.
func TestRestartKeepsPersistedTables(t *testing.T) {
	in, err := Start(context.Background(), Options{Location: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Stop() })
	if got := createTable(t, in, "kept"); got != http.StatusNoContent {
		t.Fatalf("create table: %d", got)
	}
	time.Sleep(DiskAutosave + time.Second)
	if err := in.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := createTable(t, in, "kept"); got != http.StatusConflict {
		t.Fatalf("after restart create table: %d, want 409 (the table survived)", got)
	}
}
