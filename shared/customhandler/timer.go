package customhandler

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// TimerInfo is a timer trigger value. All times are UTC.
type TimerInfo struct {
	IsPastDue bool
	// HasStatus is false when ScheduleStatus is null, as with
	// useMonitor:false or before the host has persisted any status.
	HasStatus               bool
	Last, Next, LastUpdated time.Time
}

// Timer decodes the timer trigger value of binding. Property names match
// case-insensitively and dates are parsed leniently, because the exact
// date format inside ScheduleStatus is unconfirmed.
func (inv *Invocation) Timer(binding string) (TimerInfo, error) {
	raw, err := inv.binding(binding)
	if err != nil {
		return TimerInfo{}, err
	}
	obj, ok, err := objectValue(raw)
	if err != nil {
		return TimerInfo{}, fmt.Errorf("binding %q: %w", binding, err)
	}
	if !ok {
		return TimerInfo{}, fmt.Errorf("binding %q: %w", binding, malformed("timer value is null"))
	}
	var t TimerInfo
	if v, ok := lookup(obj, "IsPastDue"); ok && !isNull(v) {
		if t.IsPastDue, err = boolValue(v); err != nil {
			return TimerInfo{}, fmt.Errorf("IsPastDue: %w", err)
		}
	}
	st, ok := lookup(obj, "ScheduleStatus")
	if !ok {
		return t, nil
	}
	status, ok, err := objectValue(st)
	if err != nil {
		return TimerInfo{}, fmt.Errorf("ScheduleStatus: %w", err)
	}
	if !ok {
		return t, nil
	}
	t.HasStatus = true
	for _, f := range []struct {
		key string
		dst *time.Time
	}{{"Last", &t.Last}, {"Next", &t.Next}, {"LastUpdated", &t.LastUpdated}} {
		v, ok := lookup(status, f.key)
		if !ok {
			continue
		}
		if *f.dst, _, err = timeValue(v); err != nil {
			return TimerInfo{}, fmt.Errorf("ScheduleStatus.%s: %w", f.key, err)
		}
	}
	return t, nil
}

// boolValue reads true/false, also as a string ("True" from .NET).
func boolValue(raw json.RawMessage) (bool, error) {
	s, _, err := stringValue(raw)
	if err != nil {
		return false, err
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, malformed("not a bool: %.20q", s)
	}
	return b, nil
}
