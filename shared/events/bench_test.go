package events

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func BenchmarkDecode(b *testing.B) {
	keys := new(strings.Builder)
	for i := 0; keys.Len() < DefaultMaxBytes-200; i++ {
		fmt.Fprintf(keys, `"k%d":[0],`, i)
	}
	manyKeys := []byte(`{"specversion":"1.0","id":"a","source":"s","type":"io.holdfast.hr.rehire","data":{` + keys.String() + `"upn":"a@b.test","ticket":"T-1"}}`)
	cases := []struct {
		name  string
		queue Queue
		body  []byte
	}{
		{"hr-offboarding", QueueHR, readFile(b, filepath.Join("testdata", "valid", "hr-offboarding-retain-full.json"))},
		{"graph-user-updated", QueueDirectory, readFile(b, filepath.Join("testdata", "valid", "graph-user-updated.json"))},
		{"64KiB-many-keys", QueueHR, manyKeys},
		{"64KiB-brackets", QueueHR, bytes.Repeat([]byte("["), DefaultMaxBytes)},
	}
	for _, c := range cases {
		if len(c.body) > DefaultMaxBytes {
			b.Fatalf("%s: body %d bytes over the limit", c.name, len(c.body))
		}
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			opts := testOpts()
			for b.Loop() {
				Decode(c.queue, c.body, opts)
			}
		})
	}
}
