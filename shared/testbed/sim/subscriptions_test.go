package sim

import (
	"encoding/json"
	"strconv"
	"testing"
)

func TestNotificationsShape(t *testing.T) {
	e := newEnv(t, seed("ann@contoso.test", 1))
	id := e.userID("ann@contoso.test")
	e.admin("deleteUser", "ann@contoso.test")
	e.admin("purgeUser", "ann@contoso.test")
	evs := e.s.DrainEvents()
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	var types []string
	for i, raw := range evs {
		var ev struct {
			ID, Type, Source, Subject, Time, Datacontenttype, Specversion string
			Data                                                          struct {
				ChangeType, ClientState, Resource, TenantID, SubscriptionID string
				ResourceData                                                struct {
					ODataType      string `json:"@odata.type"`
					ODataID        string `json:"@odata.id"`
					ID             string
					OrganizationID string
					SequenceNumber string // a string, as Learn documents it
				}
			}
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Specversion != "1.0" || ev.Source != "/tenants/"+testTenant+"/applications/"+e.s.opts.AppID || ev.Subject != "Users/"+id ||
			ev.Data.Resource != "Users/"+id || ev.Data.ResourceData.ID != id || ev.Data.ResourceData.ODataType != "#Microsoft.Graph.User" ||
			ev.Data.ResourceData.OrganizationID != testTenant || ev.Data.TenantID != testTenant || ev.Data.ClientState != e.s.ClientState() ||
			ev.Data.ResourceData.SequenceNumber != strconv.Itoa(i+1) || ev.Datacontenttype != "application/json" {
			t.Fatalf("event %d: %s", i, raw)
		}
		types = append(types, ev.Type+"/"+ev.Data.ChangeType)
	}
	if types[0] != "Microsoft.Graph.UserUpdated/updated" || types[1] != "Microsoft.Graph.UserDeleted/deleted" {
		t.Fatalf("types %v", types)
	}
	if len(e.s.Events()) != 0 {
		t.Fatal("drain did not clear")
	}
}
