package observe_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/holdfast/holdfast/shared/alert"
	"github.com/holdfast/holdfast/shared/engine"
	"github.com/holdfast/holdfast/shared/observe"
	"github.com/holdfast/holdfast/shared/tenant"
)

// Every method of the engine's tenant ports, classified. A method added to
// a port fails this test until it is classified here and, if it writes,
// overridden in package observe.
var (
	reads = map[string]bool{
		"GetUser": true, "FindUserByEmployeeID": true, "GetDeletedUser": true, "SubscribedSKUs": true,
		"ListDeletedUsers": true, "ListUsers": true,
		"GetMailbox": true, "GetRestoreRequests": true, "GetRestoreStatistics": true, "ListMailboxes": true,
	}
	writes = map[string]bool{
		"RestoreDeletedUser": true, "SetAccountEnabled": true, "AssignLicenses": true,
		"SetLitigationHold": true, "UndoSoftDeletedMailbox": true, "NewMailboxFromInactive": true, "NewRestoreRequest": true,
		"ResumeRestoreRequest": true, "AddX500Address": true, "UndoSoftDeletedMailboxWithAccount": true,
	}
)

// TestWritesNeverReachThePort calls every write of the decorators with no
// port behind them: a write that were forwarded would panic on the nil
// port instead of answering a planned write.
func TestWritesNeverReachThePort(t *testing.T) {
	for _, tc := range []struct {
		port reflect.Type
		dec  any
	}{
		{reflect.TypeFor[engine.Directory](), observe.Directory{}},
		{reflect.TypeFor[engine.Exchange](), observe.Exchange{}},
		{reflect.TypeFor[engine.AccountUndoer](), observe.ExchangeWithAccount{}},
	} {
		v := reflect.ValueOf(tc.dec)
		for i := 0; i < tc.port.NumMethod(); i++ {
			m := tc.port.Method(i)
			switch {
			case reads[m.Name]:
				continue
			case !writes[m.Name]:
				t.Errorf("%s.%s is neither a known read nor a known write: classify it here and override it in package observe if it writes", tc.port.Name(), m.Name)
				continue
			}
			t.Run(tc.port.Name()+"."+m.Name, func(t *testing.T) {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("forwarded to the port (panicked on the nil port): %v", p)
					}
				}()
				fn := v.MethodByName(m.Name)
				args := make([]reflect.Value, fn.Type().NumIn())
				args[0] = reflect.ValueOf(context.Background())
				for j := 1; j < len(args); j++ {
					args[j] = reflect.Zero(fn.Type().In(j))
				}
				out := fn.Call(args)
				err, _ := out[len(out)-1].Interface().(error)
				var pw *tenant.PlannedWrite
				if !errors.Is(err, tenant.ErrObserveOnly) || !errors.As(err, &pw) || pw.Op == "" {
					t.Fatalf("answered %v, want a *tenant.PlannedWrite", err)
				}
			})
		}
	}
}

// fakeDir answers reads and fails the test on any write.
type fakeDir struct {
	engine.Directory
	reads int
}

func (f *fakeDir) GetUser(context.Context, string) (tenant.User, error) {
	f.reads++
	return tenant.User{ID: "u1"}, nil
}

func TestReadsPassThrough(t *testing.T) {
	f := &fakeDir{}
	d := observe.Directory{Directory: f}
	u, err := d.GetUser(context.Background(), "ann@contoso.test")
	if err != nil || u.ID != "u1" || f.reads != 1 {
		t.Fatalf("read not forwarded: %+v %v (reads %d)", u, err, f.reads)
	}
	if _, err := d.RestoreDeletedUser(context.Background(), "u1"); !errors.Is(err, tenant.ErrObserveOnly) {
		t.Fatalf("restore: %v", err)
	}
}

type captured struct{ got []alert.Alert }

func (c *captured) Send(_ context.Context, a alert.Alert) error {
	c.got = append(c.got, a)
	return nil
}

func TestAlertsSayObserveMode(t *testing.T) {
	next := &captured{}
	a := observe.Alerter{Next: next}
	orig := alert.Alert{ID: "x", Kind: "warning", Action: "holdfast will rescue it", Details: map[string]string{"k": "v"}}
	if err := a.Send(context.Background(), orig); err != nil {
		t.Fatal(err)
	}
	got := next.got[0]
	if !strings.HasPrefix(got.Action, observe.Prefix) || got.Details["mode"] != "observe" || got.Details["k"] != "v" {
		t.Fatalf("alert not marked: %+v", got)
	}
	if _, ok := orig.Details["mode"]; ok {
		t.Fatal("the caller's alert details were changed")
	}
}

func TestPlannedMailerSendsNothing(t *testing.T) {
	var seen []string
	m := observe.PlannedMailer{Planned: func(from string, msg tenant.Mail) { seen = append(seen, msg.Subject) }}
	if err := m.SendMail(context.Background(), "alerts@contoso.test", tenant.Mail{Subject: "s", To: []string{"a@contoso.test"}}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != "s" {
		t.Fatalf("planned mail not recorded: %v", seen)
	}
}

type undoerExchange struct{ engine.Exchange }

func (undoerExchange) UndoSoftDeletedMailboxWithAccount(context.Context, string, string) (string, error) {
	panic("a write reached the port")
}

// TestWrapKeepsOptionalCapabilities: observe mode offers AccountUndoer
// exactly when the wrapped client does, so it plans the same rescue path
// acting mode would take.
func TestWrapKeepsOptionalCapabilities(t *testing.T) {
	if _, ok := observe.WrapExchange(undoerExchange{}).(engine.AccountUndoer); !ok {
		t.Error("wrapped AccountUndoer lost the capability")
	}
	if _, ok := observe.WrapExchange(observe.Exchange{}).(engine.AccountUndoer); ok {
		t.Error("a client without AccountUndoer gained it")
	}
	u := observe.WrapExchange(undoerExchange{}).(engine.AccountUndoer)
	if _, err := u.UndoSoftDeletedMailboxWithAccount(context.Background(), "g", "u@contoso.test"); !errors.Is(err, tenant.ErrObserveOnly) {
		t.Fatalf("undo with account: %v", err)
	}
}
