package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Area wire: drifted answers for adapter tests (Altered).

// Alteration changes the answers of one Graph path or one Exchange cmdlet:
// a test's way to play a service whose shapes drifted from the contracts
// (a renamed field, a number sent as a string, a new status value) and
// check that holdfast probe names exactly that.
type Alteration struct {
	GraphPath string // path after /v1.0, e.g. "/users" (exact match)
	Cmdlet    string // Exchange cmdlet name (X-CmdletName header)
	// Edit changes each item of the answer's value array, or the body
	// object when it has none.
	Edit func(item map[string]any)
}

// RenameField renames field from to field to.
func RenameField(from, to string) func(map[string]any) {
	return func(m map[string]any) {
		if v, ok := m[from]; ok {
			delete(m, from)
			m[to] = v
		}
	}
}

// NumberAsString sends a numeric field as its decimal string; dotted
// paths ("prepaidUnits.enabled") reach into objects.
func NumberAsString(field string) func(map[string]any) {
	return func(m map[string]any) {
		parent, name := m, field
		for {
			head, rest, ok := strings.Cut(name, ".")
			if !ok {
				break
			}
			child, isObj := parent[head].(map[string]any)
			if !isObj {
				return
			}
			parent, name = child, rest
		}
		if v, ok := parent[name].(float64); ok {
			parent[name] = strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
}

// SetField sets field to v.
func SetField(field string, v any) func(map[string]any) {
	return func(m map[string]any) { m[field] = v }
}

// Altered serves h with alts applied to matching successful answers.
func Altered(h http.Handler, alts ...Alteration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var edits []func(map[string]any)
		for _, a := range alts {
			if a.GraphPath != "" && r.URL.Path == "/v1.0"+a.GraphPath || a.Cmdlet != "" && r.Header.Get("X-CmdletName") == a.Cmdlet {
				edits = append(edits, a.Edit)
			}
		}
		if len(edits) == 0 {
			h.ServeHTTP(w, r)
			return
		}
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		body := rec.body.Bytes()
		if rec.status >= 200 && rec.status < 300 {
			var m map[string]any
			if err := json.Unmarshal(body, &m); err == nil {
				if items, ok := m["value"].([]any); ok {
					for _, it := range items {
						if im, ok := it.(map[string]any); ok {
							for _, e := range edits {
								e(im)
							}
						}
					}
				} else {
					for _, e := range edits {
						e(m)
					}
				}
				if b, err := json.Marshal(m); err == nil {
					body = b
				}
			}
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(rec.status)
		_, _ = w.Write(body)
	})
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(s int) { r.status = s }

func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
