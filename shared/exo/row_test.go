package exo

import (
	"reflect"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/tenant"
)

// TestRowReadLeniently pins how a result row's loosely typed properties
// read, now that a row is decoded once instead of once per property: the
// same values as the earlier per-property decoding gave, for the JSON
// types the admin API has been seen to use and the ones it might.
func TestRowReadLeniently(t *testing.T) {
	row := []byte(`{
	  "ExchangeGuid": "0b9e3c55-7d4e-4f55-9a31-2f4a1c6e0d01",
	  "Alias": 12345,
	  "ArchiveStatus": null,
	  "RetentionComment": {"nested": true},
	  "LitigationHoldEnabled": "True",
	  "IsInactiveMailbox": 1,
	  "IsSoftDeletedByRemove": null,
	  "AutoExpandingArchiveEnabled": true,
	  "EmailAddresses": ["SMTP:kim@contoso.test", 7, null, "smtp:k@contoso.test"],
	  "InPlaceHolds": "UniH0b9e",
	  "LitigationHoldDate": "/Date(1700000000000)/",
	  "WhenSoftDeleted": "2025-03-04T05:06:07.1230000+01:00",
	  "LitigationHoldDuration": "Unlimited"
	}`)
	m, err := parseMailbox(row)
	if err != nil {
		t.Fatal(err)
	}
	hold := time.UnixMilli(1700000000000).UTC()
	gone := time.Date(2025, 3, 4, 4, 6, 7, 123000000, time.UTC)
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"string", m.ExchangeGUID, "0b9e3c55-7d4e-4f55-9a31-2f4a1c6e0d01"},
		{"number as its text", m.Alias, "12345"},
		{"null", m.ArchiveStatus, ""},
		{"object", m.RetentionComment, ""},
		{"boolean as a string", m.LitigationHoldEnabled, true},
		{"boolean as a number", m.IsInactiveMailbox, true},
		{"boolean null", m.IsSoftDeletedByRemove, false},
		{"boolean absent", m.IsSoftDeletedByDisable, false},
		{"boolean", m.AutoExpandingArchive, true},
		{"array, other types as empty", m.EmailAddresses, []string{"SMTP:kim@contoso.test", "", "", "smtp:k@contoso.test"}},
		{"string where an array belongs", m.InPlaceHolds, []string(nil)},
		{"legacy date", *m.LitigationHoldDate, hold},
		{"date with offset", *m.WhenSoftDeleted, gone},
		{"duration", m.LitigationHoldDuration, "Unlimited"},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.name, c.got, c.want)
		}
	}

	for _, bad := range []struct{ name, row string }{
		{"not a boolean", `{"LitigationHoldEnabled": "perhaps"}`},
		{"not an object", `["ExchangeGuid"]`},
		{"data after the object", `{"Alias": "a"} {"Alias": "b"}`},
		{"truncated", `{"Alias": "a"`},
	} {
		if _, err := parseMailbox([]byte(bad.row)); err == nil {
			t.Errorf("%s: no error", bad.name)
		}
	}
	if m, err := parseMailbox([]byte(`null`)); err != nil || !reflect.DeepEqual(m, tenant.Mailbox{}) {
		t.Errorf("null row: %+v, %v; want an empty mailbox", m, err)
	}
}

func BenchmarkParseMailbox(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseMailbox(benchRow); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRow is a Get-Mailbox row of the size the engine reads per event.
var benchRow = []byte(`{
  "ExchangeGuid@odata.type": "#Guid", "ExchangeGuid": "7f3c2a10-5b6d-4e8f-9a01-23456789abcd",
  "ArchiveGuid@odata.type": "#Guid", "ArchiveGuid": "00000000-0000-0000-0000-000000000000",
  "DistinguishedName": "CN=Kim,OU=fabrikam.onmicrosoft.com,OU=Microsoft Exchange Hosted Organizations,DC=NAMPR01A001,DC=PROD,DC=OUTLOOK,DC=COM",
  "LegacyExchangeDN": "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=9f8e7d6c5b4a43218765fedcba987654-kim",
  "PrimarySmtpAddress": "kim@fabrikam.test", "UserPrincipalName": "kim@fabrikam.test", "Alias": "kim",
  "EmailAddresses": ["SMTP:kim@fabrikam.test", "smtp:kim@fabrikam.onmicrosoft.com"],
  "ExternalDirectoryObjectId": "5a6b7c8d-0000-4000-8000-000000000042", "RecipientTypeDetails": "UserMailbox",
  "LitigationHoldEnabled": true, "LitigationHoldDate": "2026-11-30T08:00:00.0000000+00:00",
  "LitigationHoldDuration": "Unlimited", "RetentionComment": "", "InPlaceHolds": [],
  "IsInactiveMailbox": false, "IsSoftDeletedByRemove": false, "IsSoftDeletedByDisable": false,
  "WhenSoftDeleted": null, "AutoExpandingArchiveEnabled": false, "ArchiveStatus": "None"
}`)
