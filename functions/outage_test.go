package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/app"
	"github.com/holdfast/holdfast/shared/clock"
	"github.com/holdfast/holdfast/shared/config"
	"github.com/holdfast/holdfast/shared/customhandler"
	"github.com/holdfast/holdfast/shared/testbed/azurite"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// health invokes the Api's health route as the host does and returns the
// HTTP output's status and body.
func health(t *testing.T, c *customhandler.Client, now time.Time) (int, string) {
	t.Helper()
	env, err := customhandler.EncodeHTTP(app.FnApi, "req", customhandler.HTTPRequest{
		URL: "http://127.0.0.1/api/holdfast/health", Method: "GET", Query: map[string]string{},
		Headers: http.Header{"Accept": {"application/json"}}, Params: map[string]string{"path": "health"},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Invoke(context.Background(), app.FnApi, env)
	if err != nil {
		t.Fatalf("health invocation failed (the host would answer 500, not the handler's 503): %v", err)
	}
	b, _ := json.Marshal(resp.Outputs["res"])
	var out struct {
		StatusCode json.Number `json:"statusCode"`
		Body       string      `json:"body"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("res output %s: %v", b, err)
	}
	n, _ := out.StatusCode.Int64()
	return int(n), out.Body
}

// The handler starts while Table Storage is down. It answers the host's
// protocol throughout: health is an HTTP output with 503 and the reason,
// an HR event fails transiently (the host redelivers); once Azurite comes
// up, a redelivery is applied within a minute, with no restart.
func TestServeRidesOutStorageDownAtStart(t *testing.T) {
	vc := clock.NewVirtual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	tenantID := "6f1c2d3e-4b5a-4978-8a6b-0c1d2e3f4a5b"
	s := sim.New(sim.Options{Clock: vc, TenantID: tenantID, Domain: "contoso.test", Log: zerolog.Nop()})
	if err := s.Load(sim.TenantSpec{Users: []sim.UserSpec{{UPN: "dana@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 300}}}); err != nil {
		t.Fatal(err)
	}
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	simSrv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = simSrv.Serve(sl) }()
	defer simSrv.Close()
	simURL := "http://" + sl.Addr().String()

	port, azPort := freePort(t), freePort(t)
	endpoint := "http://127.0.0.1:" + strconv.Itoa(azPort) + "/" + azurite.AccountName
	cmd := child(t, map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT": strconv.Itoa(port),
		"HOLDFAST_MODE":                "local",
		"HOLDFAST_TENANT_ID":           tenantID,
		"AzureWebJobsStorage":          "DefaultEndpointsProtocol=http;AccountName=" + azurite.AccountName + ";AccountKey=" + azurite.AccountKey + ";TableEndpoint=" + endpoint + ";",
		"HOLDFAST_GRAPH_BASE_URL":      simURL + "/v1.0",
		"HOLDFAST_EXCHANGE_BASE_URL":   simURL,
		"HOLDFAST_GRAPH_CLIENT_STATE":  s.ClientState(),
		"HOLDFAST_CLOCK_URL":           simURL,
	})
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	c := &customhandler.Client{BaseURL: "http://127.0.0.1:" + strconv.Itoa(port), HTTP: &http.Client{Timeout: 2 * time.Minute}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(c.BaseURL + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handler never answered GET /: %s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	status, body := health(t, c, vc.Now())
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "storage") {
		t.Fatalf("health while storage is down = %d %s, want 503 naming the storage", status, body)
	}
	t.Logf("health while down: %d %s", status, body)

	event := []byte(`{"specversion":"1.0","id":"hr-outage-start-1","type":"io.holdfast.hr.offboarding","source":"/hr/test",` +
		`"time":"2026-03-02T09:00:00Z","datacontenttype":"application/json","data":{"upn":"dana@contoso.test","retention":"retain","lastWorkingDay":"2026-03-02"}}`)
	delivery := 0
	deliver := func() (customhandler.Response, error) {
		delivery++
		env, err := customhandler.EncodeServiceBus(app.FnOnOffboarding, "msg", customhandler.ServiceBusMessage{
			Body: event, MessageID: "hr-outage-start-1", DeliveryCount: delivery, SequenceNumber: 1, EnqueuedTime: vc.Now(),
			ContentType: "application/cloudevents+json",
		}, customhandler.BodyBinary, vc.Now())
		if err != nil {
			t.Fatal(err)
		}
		return c.Invoke(context.Background(), app.FnOnOffboarding, env)
	}
	_, err = deliver()
	var ie *customhandler.InvocationError
	if !errors.As(err, &ie) || ie.Status != http.StatusInternalServerError {
		t.Fatalf("HR event while storage is down: %v, want a failed invocation (500) for the host to redeliver", err)
	}

	// Let the handler's backoff grow a little before the storage returns.
	time.Sleep(3 * time.Second)
	az, err := azurite.Start(context.Background(), azurite.Options{Port: azPort})
	if err != nil {
		t.Fatal(err)
	}
	defer az.Stop()
	up := time.Now()

	// The host redelivers an abandoned message at once; pace it at one a
	// second here.
	var resp customhandler.Response
	for {
		resp, err = deliver()
		if err == nil {
			break
		}
		if time.Since(up) > time.Minute {
			t.Fatalf("HR event still failing a minute after storage came up (%d deliveries): %v\n%s", delivery, err, out.String())
		}
		time.Sleep(time.Second)
	}
	took := time.Since(up)
	b, _ := json.Marshal(resp.ReturnValue)
	if !strings.Contains(string(b), `"applied"`) {
		t.Fatalf("HR event answered %s, want applied", b)
	}
	if !s.Mailboxes()["dana@contoso.test"].LitigationHold {
		t.Error("no Litigation Hold after the event was applied")
	}
	if status, body := health(t, c, vc.Now()); status != http.StatusOK {
		t.Errorf("health after recovery = %d %s", status, body)
	}
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the handler process is gone: %v", err)
	}
	t.Logf("applied %v after storage came up, on delivery %d, same process", took.Round(time.Millisecond), delivery)
}

// Between attempts at opening the storage the handler fails fast: an
// invocation inside the backoff window makes no network attempt, so a
// burst of redeliveries during an outage costs nothing.
func TestLazyOpensWithBackoff(t *testing.T) {
	dead := freePort(t)
	endpoint := "http://127.0.0.1:" + strconv.Itoa(dead) + "/" + azurite.AccountName
	settings := map[string]string{
		"HOLDFAST_MODE":              "local",
		"HOLDFAST_TENANT_ID":         "6f1c2d3e-4b5a-4978-8a6b-0c1d2e3f4a5b",
		"AzureWebJobsStorage":        "DefaultEndpointsProtocol=http;AccountName=" + azurite.AccountName + ";AccountKey=" + azurite.AccountKey + ";TableEndpoint=" + endpoint + ";",
		"HOLDFAST_GRAPH_BASE_URL":    "http://127.0.0.1:" + strconv.Itoa(dead) + "/v1.0",
		"HOLDFAST_EXCHANGE_BASE_URL": "http://127.0.0.1:" + strconv.Itoa(dead),
	}
	cfg, err := config.Load(func(n string) (string, bool) { v, ok := settings[n]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	st, err := app.Prepare(cfg, app.Options{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := app.NewLazy(st, zerolog.Nop())
	ctx := context.Background()
	if err := l.Ready(ctx); !errors.Is(err, app.ErrUnavailable) {
		t.Fatalf("first attempt: %v, want ErrUnavailable", err)
	}
	start := time.Now()
	err = l.Ready(ctx)
	if !errors.Is(err, app.ErrUnavailable) || !strings.Contains(err.Error(), "next attempt in") {
		t.Fatalf("inside the backoff window: %v", err)
	}
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Errorf("a call inside the backoff window took %v: it tried the network", took)
	}
	if st.Functions != nil {
		t.Error("functions wired without storage")
	}
}
