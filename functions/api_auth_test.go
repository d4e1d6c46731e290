package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/app"
	"github.com/holdfast/holdfast/shared/clock"
	"github.com/holdfast/holdfast/shared/config"
	"github.com/holdfast/holdfast/shared/customhandler"
	"github.com/holdfast/holdfast/shared/dashboard"
	"github.com/holdfast/holdfast/shared/ledger"
)

// healthyReader answers the health probe; nothing else is read here.
type healthyReader struct{ app.Reader }

func (healthyReader) ListRejected(context.Context, int, func(ledger.RejectedEvent) error) error {
	return nil
}

// TestApiRequiresFunctionKey: in Azure mode the admin Api answers 401
// unless the host authenticated the caller with a function or admin key
// (the WebJobsAuthLevel identity it attaches), whatever else the request
// carries. The dashboard's pages sit behind the same check.
func TestApiRequiresFunctionKey(t *testing.T) {
	identity := func(authType string, authenticated bool, level string) json.RawMessage {
		b, _ := json.Marshal(map[string]any{
			"AuthenticationType": authType, "IsAuthenticated": authenticated,
			"Claims": []map[string]string{{"Type": "http://schemas.microsoft.com/2017/07/functions/claims/authlevel", "Value": level}},
		})
		return b
	}
	tests := []struct {
		name string
		mode config.Mode
		ids  []json.RawMessage
		hdr  http.Header
		want int
	}{
		{"no identity", config.ModeAzure, nil, nil, http.StatusUnauthorized},
		{"a key header the host did not vouch for", config.ModeAzure, nil, http.Header{"X-Functions-Key": {"guess"}}, http.StatusUnauthorized},
		{"anonymous level", config.ModeAzure, []json.RawMessage{identity("WebJobsAuthLevel", true, "Anonymous")}, nil, http.StatusUnauthorized},
		{"not authenticated", config.ModeAzure, []json.RawMessage{identity("WebJobsAuthLevel", false, "Function")}, nil, http.StatusUnauthorized},
		{"another authentication type", config.ModeAzure, []json.RawMessage{identity("Bearer", true, "Function")}, nil, http.StatusUnauthorized},
		{"malformed identity", config.ModeAzure, []json.RawMessage{json.RawMessage(`"x"`)}, nil, http.StatusUnauthorized},
		{"function key", config.ModeAzure, []json.RawMessage{identity("WebJobsAuthLevel", true, "Function")}, nil, http.StatusOK},
		{"admin key", config.ModeAzure, []json.RawMessage{identity("WebJobsAuthLevel", true, "Admin")}, nil, http.StatusOK},
		{"local mode", config.ModeLocal, nil, nil, http.StatusOK},
	}
	db, err := dashboard.New(dashboard.Deps{Clock: clock.System{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"health", "ui/static/style.css"} {
		for _, tt := range tests {
			t.Run(path+"/"+tt.name, func(t *testing.T) {
				f := &app.Functions{Mode: tt.mode, Clock: clock.System{}, Reader: healthyReader{}, Dashboard: db}
				body, err := customhandler.EncodeHTTP(app.FnApi, "req", customhandler.HTTPRequest{
					Method: "GET", URL: "https://holdfast.azurewebsites.net/api/holdfast/" + path,
					Params: map[string]string{"path": path}, Headers: tt.hdr, Identities: tt.ids,
				}, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				inv, err := customhandler.DecodeEnvelope(app.FnApi, body)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := f.Handlers()[app.FnApi](context.Background(), inv)
				if err != nil {
					t.Fatal(err)
				}
				out, ok := resp.Outputs["res"].(customhandler.HTTPOutput)
				if !ok {
					t.Fatalf("response outputs %v", resp.Outputs)
				}
				if out.StatusCode != tt.want {
					t.Fatalf("status %d (%s), want %d", out.StatusCode, out.Body, tt.want)
				}
			})
		}
	}
}
