package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/events"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/ledger/memledger"
	"github.com/holdfast/holdfast/shared/retention"
	"github.com/holdfast/holdfast/shared/tenant"
)

// recycleBin is a Directory whose recycle bin holds users; nothing else is
// called by findDeleted.
type recycleBin struct {
	Directory
	users []tenant.User
}

func (b recycleBin) ListDeletedUsers(ctx context.Context, fn func(tenant.User) error) error {
	for _, u := range b.users {
		if err := fn(u); err != nil {
			return err
		}
	}
	return nil
}

func TestFindDeleted(t *testing.T) {
	at := func(d int) *time.Time { x := time.Date(2026, 3, d, 9, 0, 0, 0, time.UTC); return &x }
	const (
		old   = "11111111-1111-1111-1111-111111111111"
		newer = "22222222-2222-2222-2222-222222222222"
		other = "33333333-3333-3333-3333-333333333333"
	)
	rewritten := func(id, upn string) string { return strings.ReplaceAll(id, "-", "") + upn }
	bin := recycleBin{users: []tenant.User{
		// The same address deleted twice (a reused UPN): the later deletion wins.
		{ID: old, UserPrincipalName: rewritten(old, "ann@contoso.test"), DeletedAt: at(1), EmployeeID: "E-1"},
		{ID: newer, UserPrincipalName: rewritten(newer, "ann@contoso.test"), DeletedAt: at(5), EmployeeID: "E-2"},
		// Known to HR by an alias kept only in proxyAddresses.
		{ID: other, UserPrincipalName: rewritten(other, "b.smith@contoso.test"), Mail: "b.smith@contoso.test",
			ProxyAddresses: []string{"SMTP:b.smith@contoso.test", "smtp:bob@contoso.test"}, DeletedAt: at(3)},
	}}
	e := &Engine{d: Deps{Directory: bin}}
	for _, tc := range []struct {
		name string
		ref  events.UserRef
		want string // object id, "" for not found
		how  string
	}{
		{"original UPN under the rewrite, latest deletion", events.UserRef{UPN: "ANN@contoso.test"}, newer, "original UPN"},
		{"employee id beats a newer address match", events.UserRef{UPN: "ann@contoso.test", EmployeeID: "E-1"}, old, "employee id, original UPN"},
		{"object id beats everything", events.UserRef{ObjectID: strings.ToUpper(old), UPN: "bob@contoso.test"}, old, "object id"},
		{"proxy address alias", events.UserRef{UPN: "bob@contoso.test"}, other, "proxy address"},
		{"mail", events.UserRef{UPN: "b.smith@contoso.test"}, other, "original UPN"},
		{"a prefix of an address is no match", events.UserRef{UPN: "ann@contoso"}, "", ""},
		{"no match", events.UserRef{UPN: "nobody@contoso.test", EmployeeID: "E-9"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.findDeleted(context.Background(), tc.ref)
			if tc.want == "" {
				if !errors.Is(err, tenant.ErrNotFound) {
					t.Fatalf("got %+v, %v; want not found", got, err)
				}
				return
			}
			if err != nil || got.objectID != tc.want || got.where != PlaceRecycleBin || !strings.HasPrefix(got.how, tc.how) {
				t.Fatalf("got %+v, %v; want %s by %s", got, err, tc.want, tc.how)
			}
		})
	}
}

func TestAddressMatch(t *testing.T) {
	for _, tc := range []struct {
		addr, upn, mail string
		proxies         []string
		want            string
	}{
		{"a@x.test", "A@X.test", "", nil, "original UPN"},
		{"a@x.test", "z@x.test", "a@x.test", nil, "mail"},
		{"a@x.test", "z@x.test", "", []string{"X500:/o=a@x.test", "smtp:a@x.test"}, "proxy address"},
		{"a@x.test", "z@x.test", "", []string{"X500:a@x.test", "sip:a@x.test"}, ""},
		{"a@x.test", "z@x.test", "", []string{"SMTP: a@x.test"}, "proxy address"}, // as in Learn's example
		{"a@x.test", "z@x.test", "", []string{"a@x.test"}, ""},                    // no prefix: not a proxy address
	} {
		if got := addressMatch(tc.addr, tc.upn, tc.mail, tc.proxies); got != tc.want {
			t.Errorf("addressMatch(%q, %q, %q, %v) = %q, want %q", tc.addr, tc.upn, tc.mail, tc.proxies, got, tc.want)
		}
	}
}

func TestNoSuchUserError(t *testing.T) {
	err := error(&NoSuchUserError{Ref: events.UserRef{UPN: "x\"; rm -rf\n@contoso.test", EmployeeID: "E-1"},
		Looked: []Place{PlaceActive, PlaceIndex, PlaceRecycleBin, PlaceMailboxes}})
	if !errors.Is(err, tenant.ErrNotFound) {
		t.Fatal("NoSuchUserError must match tenant.ErrNotFound")
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\n") || !strings.Contains(msg, `\"; rm -rf\n`) {
		t.Fatalf("user strings must be quoted and escaped: %s", msg)
	}
	for _, p := range []Place{PlaceActive, PlaceIndex, PlaceRecycleBin, PlaceMailboxes} {
		if !strings.Contains(msg, string(p)) {
			t.Fatalf("reason does not say it looked in %s: %s", p, msg)
		}
	}
}

func TestPSQuote(t *testing.T) {
	for in, want := range map[string]string{
		"ann@contoso.test":    "'ann@contoso.test'",
		"o'neil@contoso.test": "'o''neil@contoso.test'",
		"x\u2019y$(whoami)":   "'x\u2019\u2019y$(whoami)'",
	} {
		if got := psQuote(in); got != want {
			t.Errorf("psQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

// deletedMailboxes is an Exchange whose soft-deleted and inactive
// mailboxes are listed; nothing else is called by findMailbox.
type deletedMailboxes struct {
	Exchange
	soft, inactive []tenant.Mailbox
}

func (x deletedMailboxes) ListMailboxes(ctx context.Context, scope tenant.MailboxScope, fn func(tenant.Mailbox) error) error {
	list := x.soft
	if scope == tenant.ScopeInactiveOnly {
		list = x.inactive
	}
	for _, m := range list {
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}

func TestFindMailbox(t *testing.T) {
	at := func(d int) *time.Time { x := time.Date(2026, 3, d, 9, 0, 0, 0, time.UTC); return &x }
	const (
		orphanGUID = "aaaaaaaa-0000-0000-0000-000000000001"
		ownedGUID  = "aaaaaaaa-0000-0000-0000-000000000002"
		olderGUID  = "aaaaaaaa-0000-0000-0000-000000000003"
		userID     = "bbbbbbbb-0000-0000-0000-000000000001"
	)
	x := deletedMailboxes{
		soft: []tenant.Mailbox{
			// Purged user: no ExternalDirectoryObjectId; known by an alias.
			{ExchangeGUID: orphanGUID, PrimarySMTPAddress: "c.jones@contoso.test", DistinguishedName: "CN=cj",
				EmailAddresses: []string{"SMTP:c.jones@contoso.test", "smtp:carl@contoso.test", "X500:/o=x/cn=carl@contoso.test"}, WhenSoftDeleted: at(3)},
			// An older mailbox with the same address (the address was reused).
			{ExchangeGUID: olderGUID, PrimarySMTPAddress: "c.jones@contoso.test", WhenSoftDeleted: at(1)},
			// A user still in the recycle bin.
			{ExchangeGUID: "aaaaaaaa-0000-0000-0000-000000000004", PrimarySMTPAddress: "dora@contoso.test", ExternalDirectoryObjectID: userID, WhenSoftDeleted: at(2)},
		},
		inactive: []tenant.Mailbox{
			{ExchangeGUID: ownedGUID, PrimarySMTPAddress: "eve@contoso.test", WhenSoftDeleted: at(2)},
		},
	}
	st := memledger.New(memledger.Options{})
	if err := st.PutIndex(context.Background(), ledger.IndexExchangeGUID, ownedGUID, "tenant_cccccccc-0000-0000-0000-000000000009"); err != nil {
		t.Fatal(err)
	}
	e := &Engine{d: Deps{Exchange: x, Store: st}}
	for _, tc := range []struct {
		name     string
		ref      events.UserRef
		objectID string
		seeded   bool
	}{
		{"alias in EmailAddresses, newest mailbox, keyed by ExchangeGuid", events.UserRef{UPN: "carl@contoso.test"}, orphanGUID, true},
		{"primary address, newest of two", events.UserRef{UPN: "C.Jones@contoso.test"}, orphanGUID, true},
		{"mailbox names its user", events.UserRef{UPN: "dora@contoso.test"}, userID, false},
		{"object id through ExternalDirectoryObjectId", events.UserRef{ObjectID: strings.ToUpper(userID)}, userID, false},
		{"inactive mailbox owned by a case", events.UserRef{UPN: "eve@contoso.test"}, "cccccccc-0000-0000-0000-000000000009", false},
		{"an X500 address is not an e-mail address", events.UserRef{UPN: "/o=x/cn=carl@contoso.test"}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.findMailbox(context.Background(), tc.ref)
			if tc.objectID == "" {
				if !errors.Is(err, tenant.ErrNotFound) {
					t.Fatalf("got %+v, %v; want not found", got, err)
				}
				return
			}
			if err != nil || got.objectID != tc.objectID || (got.seed != nil) != tc.seeded {
				t.Fatalf("got %+v, %v; want %s (seeded %v)", got, err, tc.objectID, tc.seeded)
			}
			if tc.seeded {
				var c retention.Case
				got.seed(&c)
				if c.ExchangeGUID != orphanGUID || c.DistinguishedName != "CN=cj" || c.UPN != tc.ref.UPN {
					t.Fatalf("seeded case %+v", c)
				}
			}
		})
	}
}
