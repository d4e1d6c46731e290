package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/holdfast/holdfast/shared/config"
)

// serveControl is the control API under /_sim (a contract used by
// scenarios and tests).
func (s *Sim) serveControl(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		ctlError(w, http.StatusBadRequest, err)
		return
	}
	decode := func(v any) bool {
		d := json.NewDecoder(bytesReader(body))
		d.DisallowUnknownFields()
		if err := d.Decode(v); err != nil {
			ctlError(w, http.StatusBadRequest, err)
			return false
		}
		return true
	}
	switch r.Method + " " + r.URL.Path {
	case "GET /_sim/clock":
		s.mu.Lock()
		s.advanceLocked()
		s.mu.Unlock()
		ctlJSON(w, map[string]any{"now": s.now().Format(time.RFC3339)})
	case "POST /_sim/clock":
		var req struct {
			Advance string `json:"advance"`
			Set     string `json:"set"`
		}
		if !decode(&req) {
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
		s.mu.Lock()
		s.advanceLocked()
		s.mu.Unlock()
		ctlJSON(w, map[string]any{"now": s.now().Format(time.RFC3339)})
	case "POST /_sim/admin":
		var a AdminAction
		if !decode(&a) {
			return
		}
		if err := s.Admin(r.Context(), a); err != nil {
			ctlError(w, http.StatusConflict, err)
			return
		}
		ctlJSON(w, map[string]any{"ok": true})
	case "GET /_sim/mailboxes":
		ctlJSON(w, s.Mailboxes())
	case "GET /_sim/events":
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
	case "GET /_sim/mail":
		m := s.Mail()
		if m == nil {
			m = []CapturedMail{}
		}
		ctlJSON(w, m)
	case "GET /_sim/faults":
		ctlJSON(w, s.Faults())
	case "POST /_sim/faults":
		var f Faults
		if !decode(&f) {
			return
		}
		if err := f.Validate(); err != nil {
			ctlError(w, http.StatusBadRequest, err)
			return
		}
		s.SetFaults(f)
		ctlJSON(w, map[string]any{"ok": true})
	case "POST /_sim/tenant":
		var t TenantSpec
		if !decode(&t) {
			return
		}
		if err := s.Load(t); err != nil {
			ctlError(w, http.StatusBadRequest, err)
			return
		}
		ctlJSON(w, map[string]any{"ok": true})
	case "GET /_sim/stats":
		ctlJSON(w, s.Stats())
	default:
		ctlError(w, http.StatusNotFound, errors.New("unknown control endpoint "+r.Method+" "+r.URL.Path))
	}
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

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
