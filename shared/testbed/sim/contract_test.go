package sim

import (
	"bytes"
	crand "crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/contract"
	"github.com/holdfast/holdfast/shared/securestring"
)

// keys lists the JSON object keys at every level of v, as dotted paths.
func keys(prefix string, v any, out map[string]bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	for k, sub := range m {
		out[prefix+k] = true
		keys(prefix+k+".", sub, out)
	}
}

func keySet(t *testing.T, b []byte) map[string]bool {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	keys("", v, out)
	return out
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestEmittedEventMatchesDocumentedForm: the simulator's user notification
// decodes strictly into contract.EntraEvent and carries exactly the field
// set of the documented example (testdata/events/entra-user-updated.json,
// after azure-docs microsoft-entra-events.md), sequenceNumber as a string.
func TestEmittedEventMatchesDocumentedForm(t *testing.T) {
	e := newEnv(t, seed("ann@contoso.test", 3, "ENTERPRISEPACK"))
	e.s.DrainEvents()
	e.admin("deleteUser", "ann@contoso.test")
	e.advance(30 * time.Minute) // notifications may be delayed; half an hour is past any delay
	evs := e.s.DrainEvents()
	if len(evs) == 0 {
		t.Fatal("no notification for a soft delete")
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "events", "entra-user-updated.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := keySet(t, doc)
	for _, raw := range evs {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var ev contract.EntraEvent
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("emitted event does not fit contract.EntraEvent: %v\n%s", err, raw)
		}
		got := keySet(t, raw)
		if strings.Join(sorted(got), " ") != strings.Join(sorted(want), " ") {
			t.Errorf("field set differs from the documented example\n got: %v\nwant: %v", sorted(got), sorted(want))
		}
		var probe struct {
			Data struct {
				ResourceData struct {
					SequenceNumber json.RawMessage `json:"sequenceNumber"`
				} `json:"resourceData"`
			} `json:"data"`
		}
		_ = json.Unmarshal(raw, &probe)
		if sn := probe.Data.ResourceData.SequenceNumber; len(sn) == 0 || sn[0] != '"' {
			t.Errorf("sequenceNumber = %s, want a JSON string (Learn's property table)", sn)
		}
		if !strings.HasSuffix(ev.Data.SubscriptionExpirationDateTime, "+00:00") {
			t.Errorf("subscriptionExpirationDateTime %q: want an explicit offset as documented", ev.Data.SubscriptionExpirationDateTime)
		}
	}
}

// TestRestoreRequestsPassEveryStatus: with Faults.RestoreStatuses the
// simulator walks a restore request through every status Learn lists for
// Get-MailboxRestoreRequest -Status; progress freezes while it is paused,
// and suspended requests wait for Resume-MailboxRestoreRequest.
func TestRestoreRequestsPassEveryStatus(t *testing.T) {
	const ann, bob, keeper = "ann@contoso.test", "bob@contoso.test", "keeper@contoso.test"
	e := newEnv(t, seed(ann, 6000), seed(bob, 200), seed(keeper, 0))
	e.admin("deleteUser", ann)
	e.admin("deleteUser", bob)
	e.s.SetFaults(Faults{RestoreStatuses: []string{"Retrying", "Synced", "AutoSuspended", "Suspended", "CompletedWithWarning"}})
	e.mustCmd("New-MailboxRestoreRequest", map[string]any{"Name": "a", "SourceMailbox": e.exchangeGUID(ann), "TargetMailbox": keeper, "AllowLegacyDNMismatch": true})
	e.s.SetFaults(Faults{RestoreStatuses: []string{"Failed"}})
	e.mustCmd("New-MailboxRestoreRequest", map[string]any{"Name": "b", "SourceMailbox": e.exchangeGUID(bob), "TargetMailbox": keeper, "AllowLegacyDNMismatch": true})

	seen := map[string]bool{}
	lastPct := map[string]float64{}
	for range 6 * 60 {
		for _, id := range []string{`keeper\a`, `keeper\b`} {
			st := e.mustCmd("Get-MailboxRestoreRequestStatistics", map[string]any{"Identity": id})[0]
			status, pct := st["Status"].(string), st["PercentComplete"].(float64)
			seen[status] = true
			switch status {
			case "Retrying", "Synced", "AutoSuspended", "Suspended":
				if prev, ok := lastPct[id+status]; ok && prev != pct {
					t.Fatalf("%s: progress moved while %s: %v -> %v", id, status, prev, pct)
				}
				lastPct[id+status] = pct
			}
			if status == "AutoSuspended" || status == "Suspended" {
				if seen[id+status] { // resume on the second reading, as holdfast would on a poll
					e.mustCmd("Resume-MailboxRestoreRequest", map[string]any{"Identity": id})
				}
				seen[id+status] = true
			}
		}
		e.advance(time.Minute)
	}
	for _, want := range []string{"Queued", "InProgress", "Retrying", "Synced", "AutoSuspended", "Suspended",
		"CompletionInProgress", "CompletedWithWarning", "Failed"} {
		if !seen[want] {
			t.Errorf("never saw %s (saw %v)", want, sorted(seen))
		}
	}
	if got := e.mb(keeper).Received; len(got) != 1 || got[0].Items >= 6000 || got[0].Items == 0 {
		t.Errorf("CompletedWithWarning should copy all but the skipped items: %+v", got)
	}
	if e.s.Faults().Validate() != nil || (Faults{RestoreStatuses: []string{"Completed"}}).Validate() == nil {
		t.Error("RestoreStatuses validation")
	}
}

// TestRowsCarryFixtureFields: the simulator's cmdlet rows carry every
// field of the documented rows under testdata/exo, with the same JSON kind.
func TestRowsCarryFixtureFields(t *testing.T) {
	const ann, keeper = "ann@contoso.test", "keeper@contoso.test"
	e := newEnv(t, seed(ann, 10), seed(keeper, 0))
	e.admin("deleteUser", ann)
	e.mustCmd("New-MailboxRestoreRequest", map[string]any{"Name": "holdfast-x", "SourceMailbox": e.exchangeGUID(ann), "TargetMailbox": keeper, "AllowLegacyDNMismatch": true})
	e.advance(20 * time.Minute)
	rows := map[string]map[string]any{
		"get-mailboxrestorerequeststatistics.json": e.mustCmd("Get-MailboxRestoreRequestStatistics", map[string]any{"Identity": `keeper\holdfast-x`})[0],
		"get-mailboxrestorerequest.json":           e.mustCmd("Get-MailboxRestoreRequest", map[string]any{"Name": "holdfast-x"})[0],
		"get-mailbox-softdeleted.json":             e.mustCmd("Get-Mailbox", map[string]any{"Identity": e.exchangeGUID(ann), "SoftDeletedMailbox": true})[0],
	}
	kind := func(v any) string {
		switch v.(type) {
		case nil:
			return "null"
		case string:
			return "string"
		case float64:
			return "number"
		case bool:
			return "bool"
		case []any:
			return "array"
		}
		return "object"
	}
	for file, got := range rows {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "exo", file))
		if err != nil {
			t.Fatal(err)
		}
		var a struct {
			Body struct {
				Value []map[string]any `json:"value"`
			} `json:"body"`
		}
		if err := json.Unmarshal(b, &a); err != nil || len(a.Body.Value) == 0 {
			t.Fatalf("%s: %v", file, err)
		}
		for k, v := range a.Body.Value[0] {
			if strings.Contains(k, "@") {
				continue // OData annotations
			}
			gv, ok := got[k]
			if !ok {
				t.Errorf("%s: the simulator's row has no %s", file, k)
				continue
			}
			if gk, wk := kind(gv), kind(v); gk != wk && gk != "null" && wk != "null" {
				t.Errorf("%s: %s is %s in the simulator, %s in the fixture", file, k, gk, wk)
			}
		}
	}
}

// TestSecureStringPasswordEnforced: New-Mailbox -InactiveMailbox and
// Undo-SoftDeletedMailbox refuse a missing, plain-text, undecryptable or
// weak -Password; the encrypted strong one passes the check.
func TestSecureStringPasswordEnforced(t *testing.T) {
	const ann = "ann@contoso.test"
	e := newEnv(t, seed(ann, 5, "ENTERPRISEPACK"))
	e.admin("removeMailbox", ann)
	k, err := securestring.ParseKey(e.s.SecureStringKeyXML())
	if err != nil {
		t.Fatal(err)
	}
	weak, _ := securestring.Encrypt(k, "password")
	other, _ := rsa.GenerateKey(crand.Reader, 2048)
	wrongKey, _ := securestring.Encrypt(&other.PublicKey, "Str0ng!Passw0rd-Elsewhere")
	for name, pw := range map[string]any{"missing": nil, "plain text": "Str0ng!Passw0rd-Plain", "weak": weak, "other key": wrongKey} {
		p := map[string]any{"SoftDeletedObject": ann, "WindowsLiveID": ann}
		if pw != nil {
			p["Password"] = pw
		}
		if st, out := e.cmd("Undo-SoftDeletedMailbox", p); st != 400 || !strings.Contains(detail(out), "assword") {
			t.Errorf("%s: %d %s", name, st, detail(out))
		}
	}
	e.mustCmd("Undo-SoftDeletedMailbox", map[string]any{"SoftDeletedObject": ann, "WindowsLiveID": ann, "Password": e.password()})
}

// TestGraphErrorMatchesContract: the simulator's Graph error answers fit
// contract.GraphErrorBody and carry the fields of the documented fixture.
func TestGraphErrorMatchesContract(t *testing.T) {
	e := newEnv(t, seed("ann@contoso.test", 1))
	st, _, _ := e.do("GET", "/v1.0/users/nobody@contoso.test", nil)
	if st != 404 {
		t.Fatalf("status %d", st)
	}
	resp, err := http.Get(e.srv.URL + "/v1.0/users/nobody@contoso.test")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var body contract.GraphErrorBody
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("Graph error does not fit contract.GraphErrorBody: %v\n%s", err, raw)
	}
	fx, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "graph", "error-not-found.json"))
	if err != nil {
		t.Fatal(err)
	}
	var a contract.Answer
	if err := json.Unmarshal(fx, &a); err != nil {
		t.Fatal(err)
	}
	want, got := keySet(t, a.Body), keySet(t, raw)
	for k := range want {
		if !got[k] {
			t.Errorf("simulator's Graph error lacks %s", k)
		}
	}
	if body.Error.Code != "Request_ResourceNotFound" {
		t.Errorf("code %q", body.Error.Code)
	}
}

// TestExceptionTypeHeader: a cmdlet failure names its exception class in
// the x-ExceptionType header (ExoHelper reads it), short form.
func TestExceptionTypeHeader(t *testing.T) {
	e := newEnv(t, seed("ann@contoso.test", 1))
	body := map[string]any{"CmdletInput": map[string]any{"CmdletName": "Get-Mailbox", "Parameters": map[string]any{"Identity": "nobody@contoso.test"}}}
	st, _, h := e.do("POST", "/adminapi/beta/"+testTenant+"/InvokeCommand", body, "X-CmdletName", "Get-Mailbox")
	if st != 404 || h.Get("x-ExceptionType") != "ManagementObjectNotFoundException" {
		t.Fatalf("status %d, x-ExceptionType %q", st, h.Get("x-ExceptionType"))
	}
	st, _, h = e.do("POST", "/adminapi/beta/"+testTenant+"/InvokeCommand", map[string]any{"CmdletInput": map[string]any{"CmdletName": "Get-Mailbox", "Parameters": map[string]any{}}}, "X-CmdletName", "Get-Mailbox")
	if st != 200 || h.Get("x-ExceptionType") != "" {
		t.Fatalf("success carries x-ExceptionType %q (status %d)", h.Get("x-ExceptionType"), st)
	}
}
