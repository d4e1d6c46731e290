package store

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/ledger"
)

// Limits no public API call can reach (the store's own entities have few
// properties and bounded strings) are still checked: defence against a
// future entity shape.
func TestEntityLimits(t *testing.T) {
	many := &entity{pk: "p", rk: "r"}
	for i := range maxCustomProps + 1 {
		many.i32("P"+strconv.Itoa(i), int32(i))
	}
	huge := &entity{pk: "p", rk: "r"}
	for i := range 17 { // 17 × (32 Ki units × 2 bytes) > 1 MiB
		huge.str("S"+strconv.Itoa(i), strings.Repeat("x", maxStringUnits))
	}
	ok := &entity{pk: "p", rk: "r"}
	ok.str("S", strings.Repeat("x", maxStringUnits))
	ok.bin("B", make([]byte, maxBinaryBytes))
	ok.time("T", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, tc := range []struct {
		name string
		e    *entity
		want error
	}{
		{"253 properties", many, ledger.ErrLimit},
		{"over 1 MiB counting strings at 2 bytes/char", huge, ledger.ErrLimit},
		{"binary over 64 KiB", &entity{pk: "p", rk: "r", props: []prop{{"B", edmBinary, make([]byte, maxBinaryBytes+1)}}}, ledger.ErrLimit},
		{"system property name", &entity{pk: "p", rk: "r", props: []prop{{"Timestamp", edmString, "x"}}}, ledger.ErrLimit},
		{"repeated property", &entity{pk: "p", rk: "r", props: []prop{{"A", edmString, "x"}, {"A", edmString, "y"}}}, ledger.ErrLimit},
		{"property name with dash", &entity{pk: "p", rk: "r", props: []prop{{"a-b", edmString, "x"}}}, ledger.ErrLimit},
		{"at the limits", ok, nil},
		{"slash in row key", &entity{pk: "p", rk: "a/b"}, ledger.ErrInvalidKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.e.validate(); !errors.Is(err, tc.want) {
				t.Fatalf("validate: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestEntitySize(t *testing.T) {
	// Azure: 4 + 2·len(PK+RK) + Σ(8 + 2·len(name) + value).
	e := &entity{pk: "pk", rk: "rk"}
	e.str("S", "héllo")          // 8+2+(4+10) = 24
	e.str("E", "😀")              // 8+2+(4+4)  = 18 (a surrogate pair is 2 units)
	e.bin("B", []byte{1, 2, 3})  // 8+2+(4+3)  = 17
	e.time("T", time.Unix(0, 0)) // 8+2+8      = 18
	e.i32("I", 1)                // 8+2+4      = 14
	const want = 4 + 2*4 + 24 + 18 + 17 + 18 + 14
	if got := e.size(); got != want {
		t.Fatalf("size %d, want %d", got, want)
	}
}

func TestTruncateUnits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 2, "ab"},
		{"a😀b", 2, "a"}, // never split a surrogate pair
		{"a😀b", 3, "a😀"},
		{"a\xffb", 3, "a\uFFFDb"},
	} {
		if got := truncateUnits(tc.in, tc.n); got != tc.want {
			t.Errorf("truncateUnits(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestParseBatchResponseError(t *testing.T) {
	body := "--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n" +
		"--changesetresponse_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
		"HTTP/1.1 409 Conflict\r\nContent-ID: 2\r\nContent-Type: application/json;odata=minimalmetadata;charset=utf-8\r\n\r\n" +
		`{"odata.error":{"code":"EntityAlreadyExists","message":{"lang":"en-US","value":"1:The specified entity already exists.\nRequestId:x"}}}` +
		"\r\n--changesetresponse_2--\r\n--batchresponse_1--\r\n"
	got, err := parseBatchResponse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].status != 409 || got[0].code != "EntityAlreadyExists" || got[0].index != 1 {
		t.Fatalf("parsed %+v", got)
	}
	if _, err := parseBatchResponse([]byte(`{"odata.error":{}}`)); err == nil {
		t.Fatal("JSON body parsed as multipart")
	}
}

// TestParseBatchResponseSuccess reads each operation's status and ETag
// from a successful transaction's answer (the shape Azurite and Azure
// send: one 204 or 201 per operation), with LF-only lines and a
// lower-case header name as well, and a failure mixed in still goes
// through the full parse.
func TestParseBatchResponseSuccess(t *testing.T) {
	part := func(head string) string {
		return "--changesetresponse_9\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" + head + "\r\n"
	}
	body := "--batchresponse_8\r\nContent-Type: multipart/mixed; boundary=changesetresponse_9\r\n\r\n" +
		part("HTTP/1.1 204 No Content\r\nContent-ID: 0\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-cache\r\nDataServiceVersion: 3.0;\r\nETag: W/\"datetime'2026-11-30T08%3A05%3A06.1234567Z'\"\r\nETag: W/\"second\"\r\n") +
		part("HTTP/1.1 201 Created\ncontent-id: 1\netag:   W/\"datetime'2026-11-30T08%3A05%3A06.7654321Z'\"  \n") +
		part("HTTP/1.1 204 No Content\r\nContent-ID: 2\r\n") +
		part("HTTP/1.1 412 Precondition Failed\r\nContent-ID: 3\r\nContent-Type: application/json\r\n\r\n"+
			`{"odata.error":{"code":"UpdateConditionNotSatisfied","message":{"lang":"en-US","value":"3:The update condition specified in the request was not satisfied."}}}`) +
		"--changesetresponse_9--\r\n--batchresponse_8--\r\n"
	got, err := parseBatchResponse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []innerResponse{
		{status: 204, etag: `W/"datetime'2026-11-30T08%3A05%3A06.1234567Z'"`, index: -1},
		{status: 201, etag: `W/"datetime'2026-11-30T08%3A05%3A06.7654321Z'"`, index: -1},
		{status: 204, index: -1},
		{status: 412, code: "UpdateConditionNotSatisfied", index: 3},
	}
	if len(got) != len(want) {
		t.Fatalf("parsed %d responses, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("response %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, head := range []string{"HTTP/1.1 404 Not Found\r\n", "garbage\r\n", "HTTP/1.1 2x4 No\r\n", "HTTP/1.1 204 No Content\r\nno colon here\r\n"} {
		if _, _, ok := successHead([]byte(head)); ok {
			t.Errorf("%q read as a success head", head)
		}
	}
}
