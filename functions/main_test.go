package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary act as the holdfast binary in a child
// process (HOLDFAST_AS_MAIN=1), so the process-level tests need no second
// build of the large binary.
func TestMain(m *testing.M) {
	if os.Getenv("HOLDFAST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func child(t *testing.T, env map[string]string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = []string{"HOLDFAST_AS_MAIN=1", "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// The host polls GET / until the handler answers; wiring storage and
// clients must not hold that up. Storage here points at a closed port, so
// any wiring on the start-up path would delay or break readiness.
func TestServeAnswersReadinessBeforeWiring(t *testing.T) {
	port := freePort(t)
	dead := freePort(t)
	cmd := child(t, map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT": strconv.Itoa(port),
		"HOLDFAST_MODE":                "local",
		"HOLDFAST_TENANT_ID":           "6f1c2d3e-4b5a-4978-8a6b-0c1d2e3f4a5b",
		"AzureWebJobsStorage":          "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://127.0.0.1:" + strconv.Itoa(dead),
		"HOLDFAST_GRAPH_BASE_URL":      "http://127.0.0.1:" + strconv.Itoa(dead) + "/v1.0",
		"HOLDFAST_EXCHANGE_BASE_URL":   "http://127.0.0.1:" + strconv.Itoa(dead),
	})
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET / = %d", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handler never answered GET /: %s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("GET / answered %v after process start (includes test-binary start-up)", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(out.String(), `"handler listening"`) {
		t.Errorf("no JSON start-up line on stdout: %s", out.String())
	}
}

func TestServeRefusesInvalidConfigWithOneClearError(t *testing.T) {
	cmd := child(t, map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT": "7999",
		"HOLDFAST_MODE":                "azure",
		"HOLDFAST_WARN_THRESHOLDS":     "soon",
		"HOLDFAST_TEAMS_WEBHOOK_URL":   "http://example.invalid/hook?sig=TOPSECRET",
	})
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 {
		t.Fatalf("want exit 2, got %v: %s", err, out)
	}
	for _, want := range []string{"HOLDFAST_TENANT_ID", "AzureWebJobsStorage", "HOLDFAST_WARN_THRESHOLDS", "HOLDFAST_TEAMS_WEBHOOK_URL"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("error does not name %s:\n%s", want, out)
		}
	}
	if bytes.Contains(out, []byte("TOPSECRET")) {
		t.Error("a secret reached the output")
	}
}

func TestConfigCommandHidesSecrets(t *testing.T) {
	cmd := child(t, map[string]string{
		"HOLDFAST_MODE":              "local",
		"HOLDFAST_TENANT_ID":         "6f1c2d3e-4b5a-4978-8a6b-0c1d2e3f4a5b",
		"AzureWebJobsStorage":        "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=S3CRETKEY==;TableEndpoint=http://127.0.0.1:1/a;",
		"HOLDFAST_GRAPH_BASE_URL":    "http://127.0.0.1:1/v1.0",
		"HOLDFAST_EXCHANGE_BASE_URL": "http://127.0.0.1:1",
	}, "config")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("config: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("S3CRETKEY")) || !bytes.Contains(out, []byte("(secret, hidden)")) {
		t.Fatalf("secret not hidden:\n%s", out)
	}
	if !bytes.Contains(out, []byte("configuration valid")) {
		t.Fatalf("no verdict:\n%s", out)
	}
}

func TestHostJSONTimeoutMatchesServer(t *testing.T) {
	b, err := os.ReadFile("../host.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := hostFunctionTimeout(b)
	if err != nil || d != defaultFunctionTimeout {
		t.Fatalf("host.json functionTimeout = %v (%v); the binary's default is %v: keep them equal", d, err, defaultFunctionTimeout)
	}
}

func TestUnknownCommand(t *testing.T) {
	if err := run(context.Background(), []string{"frobnicate"}); err == nil {
		t.Fatal("unknown command accepted")
	}
}
