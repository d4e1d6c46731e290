package sim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/holdfast/holdfast/shared/config"
)

// Area control: the /_sim control API.

// controlRoutes registers the control API under /_sim (a contract used by
// scenarios and tests) on mux, one method pattern per endpoint. Anything
// else below /_sim/ answers the JSON 404 the API has always given.
func (s *Sim) controlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /_sim/clock", s.ctlGetClock)
	mux.HandleFunc("POST /_sim/clock", s.ctlSetClock)
	mux.HandleFunc("POST /_sim/admin", s.ctlAdmin)
	mux.HandleFunc("GET /_sim/mailboxes", func(w http.ResponseWriter, r *http.Request) { ctlJSON(w, s.Mailboxes()) })
	mux.HandleFunc("GET /_sim/events", s.ctlEvents)
	mux.HandleFunc("GET /_sim/mail", s.ctlMail)
	mux.HandleFunc("GET /_sim/faults", func(w http.ResponseWriter, r *http.Request) { ctlJSON(w, s.Faults()) })
	mux.HandleFunc("POST /_sim/faults", s.ctlSetFaults)
	mux.HandleFunc("POST /_sim/tenant", s.ctlLoadTenant)
	mux.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, r *http.Request) { ctlJSON(w, s.Stats()) })
	mux.HandleFunc("/_sim/", func(w http.ResponseWriter, r *http.Request) {
		ctlError(w, http.StatusNotFound, errors.New("unknown control endpoint "+r.Method+" "+r.URL.Path))
	})
}

func (s *Sim) ctlGetClock(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.advanceLocked()
	s.mu.Unlock()
	ctlJSON(w, map[string]any{"now": s.now().Format(time.RFC3339)})
}

func (s *Sim) ctlSetClock(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Advance string `json:"advance"`
		Set     string `json:"set"`
	}
	if !ctlDecode(w, r, &req) {
		return
	}
	switch {
	case req.Advance != "" && req.Set == "":
		d, err := config.ParseDuration(req.Advance)
		if err != nil {
			ctlError(w, http.StatusBadRequest, err)
			return
		}
		s.clock.Advance(d)
	case req.Set != "" && req.Advance == "":
		t, err := time.Parse(time.RFC3339, req.Set)
		if err != nil {
			ctlError(w, http.StatusBadRequest, err)
			return
		}
		if t.Before(s.now()) {
			ctlError(w, http.StatusBadRequest, errors.New("the virtual clock never runs backwards"))
			return
		}
		s.clock.Set(t)
	default:
		ctlError(w, http.StatusBadRequest, errors.New(`give exactly one of "advance" (e.g. "31d") or "set" (RFC 3339)`))
		return
	}
	s.ctlGetClock(w, r)
}

func (s *Sim) ctlAdmin(w http.ResponseWriter, r *http.Request) {
	var a AdminAction
	if !ctlDecode(w, r, &a) {
		return
	}
	if err := s.Admin(r.Context(), a); err != nil {
		ctlError(w, http.StatusConflict, err)
		return
	}
	ctlJSON(w, map[string]any{"ok": true})
}

func (s *Sim) ctlEvents(w http.ResponseWriter, r *http.Request) {
	var evs []json.RawMessage
	if r.URL.Query().Get("drain") == "true" {
		evs = s.DrainEvents()
	} else {
		evs = s.Events()
	}
	if evs == nil {
		evs = []json.RawMessage{}
	}
	ctlJSON(w, evs)
}

func (s *Sim) ctlMail(w http.ResponseWriter, r *http.Request) {
	m := s.Mail()
	if m == nil {
		m = []CapturedMail{}
	}
	ctlJSON(w, m)
}

func (s *Sim) ctlSetFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	if !ctlDecode(w, r, &f) {
		return
	}
	if err := f.Validate(); err != nil {
		ctlError(w, http.StatusBadRequest, err)
		return
	}
	s.SetFaults(f)
	ctlJSON(w, map[string]any{"ok": true})
}

func (s *Sim) ctlLoadTenant(w http.ResponseWriter, r *http.Request) {
	var t TenantSpec
	if !ctlDecode(w, r, &t) {
		return
	}
	if err := s.Load(t); err != nil {
		ctlError(w, http.StatusBadRequest, err)
		return
	}
	ctlJSON(w, map[string]any{"ok": true})
}

// ctlDecode reads a control request's JSON body into v, strictly (an
// unknown field is a mistake in the test, not something to ignore); on
// failure it has answered 400.
func ctlDecode(w http.ResponseWriter, r *http.Request, v any) bool {
	d := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		ctlError(w, http.StatusBadRequest, err)
		return false
	}
	return true
}

func ctlJSON(w http.ResponseWriter, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		ctlError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}

func ctlError(w http.ResponseWriter, status int, err error) {
	b, _ := json.Marshal(map[string]string{"error": err.Error()})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
