package events

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Test values (not secrets), shared with testdata/*/README.
const (
	testTenant      = "2f4a9c1e-7b3d-4e5f-8a6b-1c2d3e4f5a6b"
	testClientState = "c7b1e7a4-2d6f-4b7e-9a1c-3f5e7d9b1a2c"
	testUser        = "0f8fad5b-d9cb-469f-a165-70867728950e"
	testUser2       = "3c1e5b7a-9d2f-4e6a-8b0c-2d4f6a8c0e1b"
	testSKU1        = "c7df2760-2c81-4ef7-b578-5b5392b571df"
	testSKU2        = "19ec0d23-8335-4cbd-94ac-6050e30712fa"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testOpts() Options {
	return Options{TenantID: testTenant, ClientState: testClientState, Now: testNow}
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func intp(n int) *int { return &n }

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeValid pins the full decoded Event for one example of every type.
func TestDecodeValid(t *testing.T) {
	const hrSource = "https://hr.contoso.test/workday"
	const graphSource = "/tenants/" + testTenant + "/applications/9a8b7c6d-5e4f-4a3b-9c2d-1e0f2a3b4c5d"
	tests := []struct {
		file  string
		queue Queue
		want  Event
	}{
		{"hr-offboarding-retain-full.json", QueueHR, Event{
			ID: "hr-7f3c2a10", Type: TypeOffboarding, Kind: KindOffboarding, Source: hrSource,
			Time: ts("2026-03-01T09:15:00Z"), TenantID: testTenant,
			User: UserRef{ObjectID: testUser, UPN: "ann@contoso.test", EmployeeID: "E123"},
			HR: &HRDecision{LastWorkingDay: "2026-03-06", Retention: "retain", HoldDurationDays: intp(2555),
				ArchiveTarget: "archive@contoso.test", Ticket: "HR-1234"},
			OccurredAt: ts("2026-03-01T09:15:00Z"),
		}},
		{"hr-offboarding-release-upn-only.json", QueueHR, Event{
			ID: "hr-7f3c2a10", Type: TypeOffboarding, Kind: KindOffboarding, Source: hrSource,
			Time: ts("2026-03-01T09:15:00Z"), TenantID: testTenant,
			User:       UserRef{UPN: "ann@contoso.test"},
			HR:         &HRDecision{LastWorkingDay: "2026-03-06", Retention: "release"},
			OccurredAt: ts("2026-03-01T09:15:00Z"),
		}},
		{"hr-offboarding-named-policy-employeeid-extra-fields.json", QueueHR, Event{
			ID: "hr-7f3c2a10", Type: TypeOffboarding, Kind: KindOffboarding, Source: hrSource,
			TenantID: testTenant,
			User:     UserRef{EmployeeID: "E123"},
			// archiveTarget null and ticket "" count as absent; 0 = unlimited.
			HR: &HRDecision{LastWorkingDay: "2026-03-06", Retention: "legal-7y", HoldDurationDays: intp(0)},
		}},
		{"hr-offboarding-apostrophe-upn.json", QueueHR, Event{
			ID: "hr-7f3c2a10", Type: TypeOffboarding, Kind: KindOffboarding, Source: hrSource,
			Time: ts("2026-03-01T09:15:00Z"), TenantID: testTenant,
			User: UserRef{UPN: "o'brien@contoso.test", EmployeeID: "E123"},
			HR: &HRDecision{LastWorkingDay: "2026-03-06", Retention: "retain", HoldDurationDays: intp(2555),
				ArchiveTarget: "archive@contoso.test", Ticket: "HR-1234"},
			OccurredAt: ts("2026-03-01T09:15:00Z"),
		}},
		{"hr-offboarding-uppercase-guid.json", QueueHR, Event{
			ID: "hr-7f3c2a10", Type: TypeOffboarding, Kind: KindOffboarding, Source: hrSource,
			Time: ts("2026-03-01T09:15:00Z"), TenantID: testTenant,
			User: UserRef{ObjectID: testUser, UPN: "ann@contoso.test", EmployeeID: "E123"}, // lower-cased
			HR: &HRDecision{LastWorkingDay: "2026-03-06", Retention: "retain", HoldDurationDays: intp(2555),
				ArchiveTarget: "archive@contoso.test", Ticket: "HR-1234"},
			OccurredAt: ts("2026-03-01T09:15:00Z"),
		}},
		{"hr-offboarding-extensions-tenant.json", QueueHR, Event{
			ID: "hr-7f3c2a10", Type: TypeOffboarding, Kind: KindOffboarding, Source: hrSource,
			Time: ts("2026-03-01T09:15:00Z"), TenantID: testTenant,
			User: UserRef{ObjectID: testUser, UPN: "ann@contoso.test", EmployeeID: "E123"},
			HR: &HRDecision{LastWorkingDay: "2026-03-06", Retention: "retain", HoldDurationDays: intp(2555),
				ArchiveTarget: "archive@contoso.test", Ticket: "HR-1234"},
			OccurredAt: ts("2026-03-01T09:15:00Z"),
		}},
		{"hr-offboarding-cancelled.json", QueueHR, Event{
			ID: "evt-offboardingcancelled", Type: TypeOffboardingCancelled, Kind: KindOffboardingCancelled,
			Source: hrSource, Time: ts("2026-03-01T10:00:00Z"), TenantID: testTenant,
			User:       UserRef{ObjectID: testUser},
			HR:         &HRDecision{Ticket: "HR-1234"},
			OccurredAt: ts("2026-03-01T10:00:00Z"),
		}},
		{"hr-rehire.json", QueueHR, Event{
			ID: "evt-rehire", Type: TypeRehire, Kind: KindRehire,
			Source: hrSource, Time: ts("2026-03-01T10:00:00Z"), TenantID: testTenant,
			User:       UserRef{UPN: "ann@contoso.test", EmployeeID: "E123"},
			HR:         &HRDecision{Ticket: "HR-2001", NewUPN: "ann.smith@contoso.test"},
			OccurredAt: ts("2026-03-01T10:00:00Z"),
		}},
		{"dir-license-removed.json", QueueDirectory, Event{
			ID: "evt-licenseremoved", Type: TypeLicenseRemoved, Kind: KindLicenseRemoved,
			Source: "/directory/connector", Time: ts("2026-03-01T10:00:00Z"), TenantID: testTenant,
			User:       UserRef{ObjectID: testUser, UPN: "ann@contoso.test"},
			SKUIDs:     []string{testSKU1, testSKU2},
			OccurredAt: ts("2026-03-01T08:00:00Z"),
		}},
		{"dir-user-deleted-entra.json", QueueDirectory, Event{
			ID: "evt-userdeleted", Type: TypeUserDeleted, Kind: KindUserDeleted,
			Source: "/directory/connector", Time: ts("2026-03-01T10:00:00Z"), TenantID: testTenant,
			User:           UserRef{ObjectID: testUser, UPN: "ann@contoso.test"},
			OccurredAt:     ts("2026-03-01T08:30:00Z"),
			DeletionSource: "entra",
		}},
		{"dir-user-deleted-exchange.json", QueueDirectory, Event{
			ID: "evt-userdeleted", Type: TypeUserDeleted, Kind: KindUserDeleted,
			Source: "/directory/connector", TenantID: testTenant,
			User:           UserRef{ObjectID: testUser},
			OccurredAt:     ts("2026-03-01T08:30:00Z"),
			DeletionSource: "exchange",
		}},
		{"dir-user-restored.json", QueueDirectory, Event{
			ID: "evt-userrestored", Type: TypeUserRestored, Kind: KindUserRestored,
			Source: "/directory/connector", Time: ts("2026-03-01T10:00:00Z"), TenantID: testTenant,
			User:       UserRef{ObjectID: testUser},
			OccurredAt: ts("2026-03-01T11:00:00Z"),
		}},
		{"graph-user-updated.json", QueueDirectory, Event{
			ID: "00d8a100-2e92-4bfa-86e1-0056dacd0fce", Type: TypeGraphUserUpdated, Kind: KindUserChanged,
			Source: graphSource, Time: ts("2026-03-01T10:24:31.3062901Z"), TenantID: testTenant,
			User:       UserRef{ObjectID: testUser},
			OccurredAt: ts("2026-03-01T10:24:31.3062901Z"),
			Sequence:   638207582813062901,
		}},
		{"graph-user-deleted.json", QueueDirectory, Event{
			ID: "00d8a100-2e92-4bfa-86e1-0056dacd0fce", Type: TypeGraphUserDeleted, Kind: KindUserPurged,
			Source: graphSource, Time: ts("2026-03-01T10:24:31.3062901Z"), TenantID: testTenant,
			User:       UserRef{ObjectID: testUser2},
			OccurredAt: ts("2026-03-01T10:24:31.3062901Z"),
			Sequence:   638207582813062901,
		}},
		{"graph-user-created-as-updated.json", QueueDirectory, Event{
			ID: "00d8a100-2e92-4bfa-86e1-0056dacd0fce", Type: TypeGraphUserUpdated, Kind: KindUserChanged,
			Source: graphSource, Time: ts("2026-03-01T10:24:31.3062901Z"), TenantID: testTenant,
			User:       UserRef{ObjectID: testUser},
			OccurredAt: ts("2026-03-01T10:24:31.3062901Z"), // falls back to the CloudEvents time
		}},
	}
	covered := map[Kind]bool{}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readFile(t, filepath.Join("testdata", "valid", tt.file))
			got, err := Decode(tt.queue, body, testOpts())
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode mismatch\n got: %+v\nwant: %+v", describe(got), describe(tt.want))
			}
		})
		covered[tt.want.Kind] = true
	}
	for _, k := range []Kind{KindOffboarding, KindOffboardingCancelled, KindRehire, KindLicenseRemoved,
		KindUserDeleted, KindUserRestored, KindUserChanged, KindUserPurged} {
		if !covered[k] {
			t.Errorf("no valid example for kind %s", k)
		}
	}
}

// describe prints an Event with its HR decision and hold duration spelled
// out (%+v would show pointers as addresses).
func describe(e Event) string {
	hr, hold := "nil", "nil"
	if e.HR != nil {
		if e.HR.HoldDurationDays != nil {
			hold = fmt.Sprint(*e.HR.HoldDurationDays)
		}
		c := *e.HR
		c.HoldDurationDays = nil
		hr = fmt.Sprintf("%+v", c)
	}
	e.HR = nil
	return fmt.Sprintf("%+v HR=%s hold=%s", e, hr, hold)
}

// TestDecodeRejections checks the field and wording of typical rejections,
// beyond the code the hostile corpus checks.
func TestDecodeRejections(t *testing.T) {
	offboarding := func(data string) string {
		return `{"specversion":"1.0","id":"e1","source":"hr","type":"io.holdfast.hr.offboarding","data":` + data + `}`
	}
	tests := []struct {
		name       string
		queue      Queue
		body       string
		code       string
		field      string
		reasonHas  string
		wantID     string
		wantTypeOK bool
	}{
		{"retention type", QueueHR, offboarding(`{"upn":"a@b.test","lastWorkingDay":"2026-03-06","retention":1}`),
			CodeInvalidField, "data.retention", "must be a string, got number", "e1", true},
		{"upn injection", QueueHR, offboarding(`{"upn":"a@b.test' or 1 eq 1","lastWorkingDay":"2026-03-06","retention":"retain"}`),
			CodeInvalidField, "data.upn", "not a valid user principal name", "e1", true},
		{"lwd range", QueueHR, offboarding(`{"upn":"a@b.test","lastWorkingDay":"2031-01-01","retention":"retain"}`),
			CodeOutOfRange, "data.lastWorkingDay", "more than 2 years in the future", "e1", true},
		{"no user", QueueHR, offboarding(`{"lastWorkingDay":"2026-03-06","retention":"retain"}`),
			CodeMissingField, "data.userId", "at least one of data.userId", "e1", true},
		{"miscased upn", QueueHR, offboarding(`{"UPN":"a@b.test","lastWorkingDay":"2026-03-06","retention":"retain"}`),
			CodeMissingField, "data.upn", `"UPN"`, "e1", true},
		{"wrong queue", QueueDirectory, offboarding(`{"upn":"a@b.test","lastWorkingDay":"2026-03-06","retention":"retain"}`),
			CodeWrongQueue, "type", "belong on the hr-offboarding queue", "e1", true},
		{"dup nested key path", QueueHR, offboarding(`{"upn":"a@b.test","x":[{"k":1,"k":2}]}`),
			CodeDuplicateKey, "data.x[0].k", "more than once", "", false},
		{"unknown type keeps printable type", QueueHR, `{"specversion":"1.0","id":"e2","source":"hr","type":"com.example.x","data":{}}`,
			CodeUnknownType, "type", "not one holdfast handles", "e2", true},
		{"event grid", QueueDirectory, `{"id":"1","eventType":"Microsoft.Graph.UserUpdated","dataVersion":"1.0","data":{}}`,
			CodeEventGridSchema, "", "Cloud Event Schema v1.0", "", false},
		{"syntax error offset", QueueHR, `{"specversion":"1.0",}`,
			CodeMalformedJSON, "", "at byte", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.queue, []byte(tt.body), testOpts())
			var rej *Rejection
			if !errors.As(err, &rej) {
				t.Fatalf("want *Rejection, got %v", err)
			}
			if rej.Code != tt.code || rej.Field != tt.field || !strings.Contains(rej.Reason, tt.reasonHas) {
				t.Errorf("got code=%s field=%q reason=%q; want code=%s field=%q reason containing %q",
					rej.Code, rej.Field, rej.Reason, tt.code, tt.field, tt.reasonHas)
			}
			if rej.EventID != tt.wantID {
				t.Errorf("EventID = %q, want %q", rej.EventID, tt.wantID)
			}
			if (rej.EventType != "") != tt.wantTypeOK {
				t.Errorf("EventType = %q", rej.EventType)
			}
		})
	}
}

func TestRejectionError(t *testing.T) {
	var err error = &Rejection{Code: CodeInvalidField, Field: "data.upn", Reason: "bad"}
	if !errors.Is(err, ErrRejected) {
		t.Error("errors.Is(Rejection, ErrRejected) = false")
	}
	if got, want := err.Error(), "event rejected: invalid_field (data.upn): bad"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	wrapped := errors.Join(errors.New("handler"), err)
	if !errors.Is(wrapped, ErrRejected) {
		t.Error("wrapped Rejection does not match ErrRejected")
	}
	if errors.Is(errors.New("other"), ErrRejected) {
		t.Error("unrelated error matches ErrRejected")
	}
}

func TestDecodeUnknownQueueIsNotARejection(t *testing.T) {
	body := readFile(t, filepath.Join("testdata", "valid", "hr-rehire.json"))
	_, err := Decode("hr", body, testOpts())
	if !errors.Is(err, ErrUnknownQueue) || errors.Is(err, ErrRejected) {
		t.Fatalf("Decode with unknown queue: %v", err)
	}
	opts := testOpts()
	opts.TenantID = "contoso"
	if _, err := Decode(QueueHR, body, opts); err == nil || errors.Is(err, ErrRejected) {
		t.Fatalf("Decode with a non-GUID Options.TenantID: %v", err)
	}
}

func TestDecodeOptions(t *testing.T) {
	graph := readFile(t, filepath.Join("testdata", "valid", "graph-user-updated.json"))
	t.Run("no tenant configured accepts any tenant", func(t *testing.T) {
		opts := testOpts()
		opts.TenantID = ""
		ev, err := Decode(QueueDirectory, graph, opts)
		if err != nil || ev.TenantID != testTenant {
			t.Fatalf("got %v, %v", ev.TenantID, err)
		}
	})
	t.Run("tenant option is case-insensitive", func(t *testing.T) {
		opts := testOpts()
		opts.TenantID = strings.ToUpper(testTenant)
		if _, err := Decode(QueueDirectory, graph, opts); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no client state configured skips the check", func(t *testing.T) {
		opts := testOpts()
		opts.ClientState = ""
		if _, err := Decode(QueueDirectory, graph, opts); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("client state mismatch does not leak either value", func(t *testing.T) {
		opts := testOpts()
		opts.ClientState = "expected-secret-value"
		_, err := Decode(QueueDirectory, graph, opts)
		var rej *Rejection
		if !errors.As(err, &rej) || rej.Code != CodeClientStateInvalid {
			t.Fatalf("got %v", err)
		}
		if strings.Contains(err.Error(), "expected-secret-value") || strings.Contains(err.Error(), testClientState) {
			t.Errorf("reason leaks the client state: %s", err)
		}
	})
	t.Run("zero Now uses the wall clock", func(t *testing.T) {
		// The corpus times are 2026-03-01; a wall clock more than 5 years later
		// would reject them, so build a body stamped with the real time.
		now := time.Now().UTC().Format(time.RFC3339)
		body := `{"specversion":"1.0","id":"e","source":"s","type":"io.holdfast.directory.userRestored","data":{"userId":"` + testUser + `","restoredAt":"` + now + `"}}`
		if _, err := Decode(QueueDirectory, []byte(body), Options{}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDecodeDuplicateSKUsCollapse(t *testing.T) {
	body := `{"specversion":"1.0","id":"e","source":"s","type":"io.holdfast.directory.licenseRemoved","data":{"userId":"` + testUser +
		`","skuIds":["` + testSKU1 + `","` + strings.ToUpper(testSKU1) + `","` + testSKU2 + `"],"removedAt":"2026-03-01T08:00:00Z"}}`
	ev, err := Decode(QueueDirectory, []byte(body), testOpts())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{testSKU1, testSKU2}; !reflect.DeepEqual(ev.SKUIDs, want) {
		t.Errorf("SKUIDs = %v, want %v", ev.SKUIDs, want)
	}
}
