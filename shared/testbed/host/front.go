package host

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/holdfast/holdfast/shared/customhandler"
)

// APIPrefix is where the Functions host serves the Api function: the
// routePrefix "api" (host.json) and the route "holdfast/{*path}"
// (functions/Api/function.json).
const APIPrefix = "/api/holdfast/"

// maxAPIBody bounds a request body the front accepts (forms, JSON).
const maxAPIBody = 1 << 20

// APIHandler is the Functions host's HTTP front for the Api function: a
// plain HTTP request below APIPrefix becomes an HTTP-trigger invocation
// envelope (non-forwarding mode, no identities: local mode has no keys),
// the handler's "res" output becomes the answer. Anything else is 404, as
// on the host.
func (h *Host) APIHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path+"/" == APIPrefix {
			http.Redirect(w, r, APIPrefix, http.StatusMovedPermanently)
			return
		}
		if !strings.HasPrefix(r.URL.Path, APIPrefix) {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			// function.json allows get and post only.
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxAPIBody+1))
		if err != nil || len(body) > maxAPIBody {
			http.Error(w, "request body unreadable or too large", http.StatusRequestEntityTooLarge)
			return
		}
		query := map[string]string{}
		for k, v := range r.URL.Query() {
			query[k] = v[0]
		}
		hdr := r.Header.Clone()
		hdr.Set("Host", r.Host)
		req := customhandler.HTTPRequest{
			URL: "http://" + r.Host + r.URL.RequestURI(), Method: r.Method, Query: query, Headers: hdr, Body: body,
			Params: map[string]string{"path": strings.TrimPrefix(r.URL.Path, APIPrefix)},
		}
		env, err := customhandler.EncodeHTTP(h.o.APIFunction, "req", req, h.now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp, err := h.client.Invoke(r.Context(), h.o.APIFunction, env)
		if err != nil {
			// The host answers a failed invocation with a bare 500.
			http.Error(w, "function invocation failed", http.StatusInternalServerError)
			return
		}
		res, err := httpOutput(resp.Outputs["res"])
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for k, v := range res.Headers {
			w.Header().Set(k, v)
		}
		if res.StatusCode == 0 {
			res.StatusCode = http.StatusOK
		}
		w.WriteHeader(res.StatusCode)
		_, _ = io.WriteString(w, res.Body)
	})
}

// httpOutput reads an HTTP output binding value from a decoded response.
func httpOutput(v any) (customhandler.HTTPOutput, error) {
	var out customhandler.HTTPOutput
	if v == nil {
		return out, fmt.Errorf("the function set no \"res\" output")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return out, err
	}
	err = json.Unmarshal(b, &out)
	return out, err
}
