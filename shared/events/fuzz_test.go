package events

import (
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzDecode feeds arbitrary bodies to Decode on both queues. Decode must not
// panic; every error must be a well-formed Rejection; every accepted event
// must satisfy the invariants in checkAccepted; decoding is deterministic;
// and an accepted event is refused on the other queue.
//
// Seeds: testdata/fuzz/FuzzDecode plus every valid and hostile corpus file.
// Run: go test ./shared/events -run '^$' -fuzz FuzzDecode -fuzztime 30s
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"valid", "hostile"} {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			body := readFile(f, file)
			f.Add(body, false)
			f.Add(body, true)
		}
	}
	opts := testOpts()
	f.Fuzz(func(t *testing.T, body []byte, directory bool) {
		q, other := QueueHR, QueueDirectory
		if directory {
			q, other = other, q
		}
		ev, err := Decode(q, body, opts)
		ev2, err2 := Decode(q, body, opts)
		if !reflect.DeepEqual(ev, ev2) || (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("Decode is not deterministic: %v / %v", err, err2)
		}
		if err != nil {
			checkRejection(t, err)
			return
		}
		checkAccepted(t, q, ev)
		_, err = Decode(other, body, opts)
		if rej := checkRejection(t, err); rej.Code != CodeWrongQueue {
			t.Fatalf("accepted on %s but on %s rejected with %s, want %s", q, other, rej.Code, CodeWrongQueue)
		}
	})
}
