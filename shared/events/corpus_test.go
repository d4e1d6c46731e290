package events

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/holdfast/holdfast/shared/events/eventstest"
)

// manifestEntry is one line of testdata/{valid,hostile}/README.
type manifestEntry struct {
	file  string
	queue Queue
	want  string
}

func readManifest(t testing.TB, dir string) []manifestEntry {
	t.Helper()
	es, err := eventstest.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]manifestEntry, len(es))
	for i, e := range es {
		out[i] = manifestEntry{e.File, Queue(e.Queue), e.Want}
	}
	return out
}

var allCodes = map[string]bool{
	CodeTooLarge: true, CodeInvalidUTF8: true, CodeMalformedJSON: true, CodeTooDeep: true,
	CodeDuplicateKey: true, CodeEventGridSchema: true, CodeMissingField: true, CodeInvalidField: true,
	CodeOutOfRange: true, CodeUnknownType: true, CodeUnsupportedType: true, CodeWrongQueue: true,
	CodeWrongTenant: true, CodeClientStateInvalid: true,
}

// checkRejection asserts what every rejection must satisfy, whatever the input.
func checkRejection(t testing.TB, err error) *Rejection {
	t.Helper()
	var rej *Rejection
	if !errors.As(err, &rej) {
		t.Fatalf("want a *Rejection, got %T %v", err, err)
	}
	if !errors.Is(err, ErrRejected) {
		t.Errorf("errors.Is(err, ErrRejected) = false")
	}
	if !allCodes[rej.Code] {
		t.Errorf("unknown code %q", rej.Code)
	}
	if strings.TrimSpace(rej.Reason) == "" {
		t.Errorf("empty reason for %s", rej.Code)
	}
	// Reasons, fields and the echoed id/type go to logs, tables and alerts:
	// they must be valid UTF-8 with no control characters (no forged lines).
	for _, s := range []string{rej.Reason, rej.Field, rej.EventID, rej.EventType} {
		if !utf8.ValidString(s) {
			t.Errorf("invalid UTF-8 in rejection: %q", s)
		}
		for _, r := range s {
			if unicode.IsControl(r) {
				t.Errorf("control character %U in rejection text %q", r, s)
				break
			}
		}
	}
	if len(rej.Reason) > 600 {
		t.Errorf("reason is %d bytes; hostile input must not be echoed at length", len(rej.Reason))
	}
	return rej
}

func TestValidCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "valid")
	for _, e := range readManifest(t, dir) {
		t.Run(e.file, func(t *testing.T) {
			ev, err := Decode(e.queue, readFile(t, filepath.Join(dir, e.file)), testOpts())
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if string(ev.Kind) != e.want {
				t.Errorf("Kind = %s, want %s", ev.Kind, e.want)
			}
			checkAccepted(t, e.queue, ev)
		})
	}
}

func TestHostileCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "hostile")
	entries := readManifest(t, dir)
	if len(entries) < 60 {
		t.Errorf("hostile corpus has %d cases; keep at least 60", len(entries))
	}
	for _, e := range entries {
		t.Run(e.file, func(t *testing.T) {
			if !allCodes[e.want] {
				t.Fatalf("README expects unknown code %q", e.want)
			}
			ev, err := Decode(e.queue, readFile(t, filepath.Join(dir, e.file)), testOpts())
			if err == nil {
				t.Fatalf("accepted: %+v", ev)
			}
			rej := checkRejection(t, err)
			if rej.Code != e.want {
				t.Errorf("code = %s, want %s (reason: %s)", rej.Code, e.want, rej.Reason)
			}
			if !reflect.DeepEqual(ev, Event{}) {
				t.Errorf("a rejection returned a non-zero Event: %+v", ev)
			}
		})
	}
}

// TestOversize generates large bodies rather than checking megabytes in.
func TestOversize(t *testing.T) {
	valid := readFile(t, filepath.Join("testdata", "valid", "hr-rehire.json"))
	pad := func(n int) []byte { // a valid event of exactly n bytes (trailing whitespace)
		if n < len(valid) {
			t.Fatalf("pad(%d) below the event size %d", n, len(valid))
		}
		return append(bytes.Clone(valid), bytes.Repeat([]byte(" "), n-len(valid))...)
	}
	bigField := func(n int) []byte { // a large unknown data field
		s := strings.Replace(string(valid), `"ticket"`, `"notes": "`+strings.Repeat("A", n)+`", "ticket"`, 1)
		return []byte(s)
	}
	tests := []struct {
		name string
		body []byte
		max  int
		code string // "" = accepted
	}{
		{"exactly the default limit", pad(DefaultMaxBytes), 0, ""},
		{"one byte over the default limit", pad(DefaultMaxBytes + 1), 0, CodeTooLarge},
		{"1 MiB unknown field", bigField(1 << 20), 0, CodeTooLarge},
		{"16 MiB of open brackets", bytes.Repeat([]byte("["), 16<<20), 0, CodeTooLarge},
		{"custom limit", pad(2048), 1024, CodeTooLarge},
		{"custom limit allows more", bigField(100 << 10), 256 << 10, ""},
		{"negative limit means default", pad(DefaultMaxBytes + 1), -5, CodeTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOpts()
			opts.MaxBytes = tt.max
			_, err := Decode(QueueHR, tt.body, opts)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			if rej := checkRejection(t, err); rej.Code != tt.code {
				t.Errorf("code = %s, want %s", rej.Code, tt.code)
			}
		})
	}
}

// TestDepthLimit pins the boundary: MaxDepth levels pass the scan, one more does not.
func TestDepthLimit(t *testing.T) {
	valid := string(readFile(t, filepath.Join("testdata", "valid", "dir-user-restored.json")))
	nest := func(levels int) []byte {
		// envelope (1) + data (2) + the nested arrays
		inner := strings.Repeat("[", levels-2) + strings.Repeat("]", levels-2)
		return []byte(strings.Replace(valid, `"restoredAt"`, `"nest": `+inner+`, "restoredAt"`, 1))
	}
	if _, err := Decode(QueueDirectory, nest(MaxDepth), testOpts()); err != nil {
		t.Errorf("depth %d: %v", MaxDepth, err)
	}
	_, err := Decode(QueueDirectory, nest(MaxDepth+1), testOpts())
	if rej := checkRejection(t, err); rej.Code != CodeTooDeep {
		t.Errorf("depth %d: code %s", MaxDepth+1, rej.Code)
	}
}

// checkAccepted asserts what every accepted event must satisfy, whatever the input.
func checkAccepted(t testing.TB, q Queue, ev Event) {
	t.Helper()
	info, ok := lookupType(ev.Type)
	switch {
	case !ok:
		t.Errorf("accepted unknown type %q", ev.Type)
	case info.kind != ev.Kind:
		t.Errorf("kind %s for type %s", ev.Kind, ev.Type)
	case info.queue != q:
		t.Errorf("accepted %s on queue %s", ev.Type, q)
	}
	if ev.ID == "" || ev.Source == "" {
		t.Errorf("accepted without id or source: %+v", ev)
	}
	u := ev.User
	switch {
	case ev.Kind == KindSubscriptionLifecycle:
		// About holdfast's subscription, not a user: it must name the
		// subscription instead.
		if ev.Lifecycle == nil || !isGUID(ev.Lifecycle.SubscriptionID) || u != (UserRef{}) {
			t.Errorf("lifecycle event accepted without a subscription id or with a user: %+v", ev)
		}
	case u.ObjectID == "" && u.UPN == "" && u.EmployeeID == "":
		t.Errorf("accepted without a user: %+v", ev)
	}
	if u.ObjectID != "" && (!isGUID(u.ObjectID) || strings.ToLower(u.ObjectID) != u.ObjectID) {
		t.Errorf("object id %q is not a lower-case GUID", u.ObjectID)
	}
	if ev.TenantID != "" && ev.TenantID != testTenant {
		t.Errorf("accepted tenant %q", ev.TenantID)
	}
	for _, s := range []string{u.UPN, u.EmployeeID} {
		if strings.ContainsAny(s, " \"();$`\r\n\t\x00") {
			t.Errorf("accepted identity %q with a forbidden character", s)
		}
	}
	hrKind := ev.Kind == KindOffboarding || ev.Kind == KindOffboardingCancelled || ev.Kind == KindRehire
	if hrKind != (ev.HR != nil) {
		t.Errorf("HR decision presence does not match kind %s", ev.Kind)
	}
	switch ev.Kind {
	case KindOffboarding:
		if ev.HR.Retention == "" || ev.HR.LastWorkingDay == "" {
			t.Errorf("offboarding without retention or last working day: %+v", ev.HR)
		}
	case KindLicenseRemoved:
		if len(ev.SKUIDs) == 0 || ev.OccurredAt.IsZero() {
			t.Errorf("licence removal without SKUs or time: %+v", ev)
		}
	case KindUserDeleted:
		if ev.DeletionSource != "entra" && ev.DeletionSource != "exchange" {
			t.Errorf("deletion source %q", ev.DeletionSource)
		}
	}
}
