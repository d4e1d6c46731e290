package probe

// The contract rows the probe checks: one per read holdfast depends on,
// named after its row in docs/contracts.md. Expected field names and JSON
// types follow the fixtures under testdata/graph and testdata/exo (a test
// checks the two agree) and the fields holdfast's clients read.

// JSON types as the probe names them. A field may allow several, joined
// with "|" ("string|null").
const (
	tString = "string"
	tNumber = "number"
	tBool   = "boolean"
	tNull   = "null"
	tArray  = "array"
	tObject = "object"
	// tAbsent: the field may be left out (a fallback holdfast can do
	// without).
	tAbsent = "absent"
)

// API says which service a row reads.
type API string

const (
	Graph    API = "graph"
	Exchange API = "exchange"
)

// Row is one contract row: the read, the shape expected of each item it
// returns, and the permission a 403 means is missing.
type Row struct {
	ID       string // stable id in the report
	Contract string // the shape cell of the row in docs/contracts.md
	API      API
	// Permission names what a 403 on this read means is missing.
	Permission string
	// Fields maps each expected field path ("a", "a.b", "a[].b") of an
	// item to the JSON types it may have.
	Fields map[string]string
	// Enums lists the known values of fields whose value holdfast acts on.
	Enums map[string][]string
}

var userFields = []string{"id", "userPrincipalName", "mail", "displayName", "accountEnabled", "employeeId", "department",
	"usageLocation", "assignedLicenses", "onPremisesSyncEnabled"}

func userShape(extra map[string]string) map[string]string {
	m := map[string]string{
		"id": tString, "userPrincipalName": tString, "mail": tString + "|" + tNull, "displayName": tString + "|" + tNull,
		"accountEnabled": tBool + "|" + tNull, "employeeId": tString + "|" + tNull, "department": tString + "|" + tNull,
		"usageLocation": tString + "|" + tNull, "assignedLicenses": tArray, "assignedLicenses[].skuId": tString,
		"assignedLicenses[].disabledPlans": tArray, "onPremisesSyncEnabled": tBool + "|" + tNull,
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

var mailboxFields = []string{"ExchangeGuid", "ArchiveGuid", "DistinguishedName", "LegacyExchangeDN", "PrimarySmtpAddress",
	"UserPrincipalName", "Alias", "ExternalDirectoryObjectId", "RecipientTypeDetails", "LitigationHoldEnabled",
	"LitigationHoldDate", "LitigationHoldDuration", "RetentionComment", "InPlaceHolds", "IsInactiveMailbox",
	"IsSoftDeletedByRemove", "IsSoftDeletedByDisable", "WhenSoftDeleted", "AutoExpandingArchiveEnabled", "ArchiveStatus"}

func mailboxShape() map[string]string {
	return map[string]string{
		"ExchangeGuid": tString, "ArchiveGuid": tString, "DistinguishedName": tString, "LegacyExchangeDN": tString,
		"PrimarySmtpAddress": tString, "UserPrincipalName": tString, "Alias": tString,
		"ExternalDirectoryObjectId": tString + "|" + tNull, "RecipientTypeDetails": tString,
		// holdfast reads booleans as true or "True" (docs/contracts.md).
		"LitigationHoldEnabled": tBool + "|" + tString, "LitigationHoldDate": tString + "|" + tNull,
		"LitigationHoldDuration": tString + "|" + tNull, "RetentionComment": tString + "|" + tNull, "InPlaceHolds": tArray,
		"IsInactiveMailbox": tBool + "|" + tString, "IsSoftDeletedByRemove": tBool + "|" + tString,
		"IsSoftDeletedByDisable": tBool + "|" + tString, "WhenSoftDeleted": tString + "|" + tNull,
		"AutoExpandingArchiveEnabled": tBool + "|" + tString, "ArchiveStatus": tString,
	}
}

// restoreStatuses are the ten -Status values of Get-MailboxRestoreRequest
// (docs/contracts.md, "Restore request statuses").
var restoreStatuses = []string{"Queued", "InProgress", "CompletionInProgress", "Synced", "Retrying", "AutoSuspended",
	"Suspended", "Completed", "CompletedWithWarning", "Failed"}

const (
	// What a 403 means is missing, for the account that runs the probe
	// (docs/permissions.md, "What holdfast probe reads").
	graphUserRead    = "Graph User.Read.All (delegated, or application for a managed identity)"
	graphLicenceRead = "Graph LicenseAssignment.Read.All (subscribedSkus)"
	graphSubRead     = "Graph Subscription.Read.All (delegated, admin) to list other apps' subscriptions; an app lists its own without it"
	exoMailboxRead   = "Exchange Online: a role with Get-Mailbox (Mail Recipients, or View-Only Recipients), and Exchange.ManageAsApp for a managed identity"
	exoRestoreReader = "Exchange Online role Mailbox Import Export (the restore request cmdlets)"
)

// Rows returns the contract rows the probe checks, in report order.
func Rows() []Row {
	return []Row{
		{ID: "graph.users.list", Contract: "GET /users", API: Graph, Permission: graphUserRead, Fields: userShape(nil)},
		{ID: "graph.users.get", Contract: "GET /users/{id}", API: Graph, Permission: graphUserRead, Fields: userShape(nil)},
		{ID: "graph.users.licenseDetails", Contract: "GET /users/{id}/licenseDetails", API: Graph, Permission: graphUserRead,
			Fields: map[string]string{"id": tString, "skuId": tString, "skuPartNumber": tString, "servicePlans": tArray,
				"servicePlans[].servicePlanName": tString}},
		{ID: "graph.deletedUsers.list", Contract: "GET /directory/deletedItems/microsoft.graph.user", API: Graph, Permission: graphUserRead,
			Fields: userShape(map[string]string{"deletedDateTime": tString})},
		{ID: "graph.deletedUsers.get", Contract: "GET /directory/deletedItems/{id}/microsoft.graph.user", API: Graph, Permission: graphUserRead,
			Fields: userShape(map[string]string{"deletedDateTime": tString})},
		{ID: "graph.subscribedSkus", Contract: "GET /subscribedSkus", API: Graph, Permission: graphLicenceRead,
			Fields: map[string]string{"skuId": tString, "skuPartNumber": tString, "consumedUnits": tNumber, "prepaidUnits": tObject,
				"prepaidUnits.enabled": tNumber}},
		{ID: "graph.subscriptions", Contract: "GET /subscriptions", API: Graph, Permission: graphSubRead,
			Fields: map[string]string{"id": tString, "resource": tString, "changeType": tString, "expirationDateTime": tString}},
		{ID: "graph.users.delta", Contract: "GET /users/delta", API: Graph, Permission: graphUserRead,
			Fields: map[string]string{"id": tString}},
		{ID: "exo.mailbox.active", Contract: "Get-Mailbox", API: Exchange, Permission: exoMailboxRead, Fields: mailboxShape()},
		{ID: "exo.mailbox.softDeleted", Contract: "Get-Mailbox -SoftDeletedMailbox", API: Exchange, Permission: exoMailboxRead, Fields: mailboxShape()},
		{ID: "exo.mailbox.inactive", Contract: "Get-Mailbox -InactiveMailboxOnly", API: Exchange, Permission: exoMailboxRead, Fields: mailboxShape()},
		{ID: "exo.mailbox.includeInactive", Contract: "Get-Mailbox -IncludeInactiveMailbox", API: Exchange, Permission: exoMailboxRead, Fields: mailboxShape()},
		{ID: "exo.restoreRequests", Contract: "Get-MailboxRestoreRequest", API: Exchange, Permission: exoRestoreReader,
			// TargetAlias is only a fallback name for a request without a
			// RequestGuid (engine adoptRequest).
			Fields: map[string]string{"Name": tString, "Status": tString, "RequestGuid": tString, "TargetAlias": tString + "|" + tNull + "|" + tAbsent},
			Enums:  map[string][]string{"Status": restoreStatuses}},
		{ID: "exo.restoreStatistics", Contract: "Get-MailboxRestoreRequestStatistics", API: Exchange, Permission: exoRestoreReader,
			Fields: map[string]string{"Name": tString, "Status": tString, "StatusDetail": tString + "|" + tNull,
				// holdfast accepts PercentComplete as a number or a string.
				"PercentComplete": tNumber + "|" + tString, "RequestGuid": tString, "TargetAlias": tString + "|" + tNull},
			Enums: map[string][]string{"Status": restoreStatuses}},
	}
}
