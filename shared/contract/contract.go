// Package contract holds, as Go types, the external message shapes that
// holdfast reads from Microsoft services and that its tenant simulator
// produces: the Microsoft Entra CloudEvent Event Grid delivers, the Exchange
// admin API's error body and page, the Graph error body. The simulator
// builds its answers from these types and the clients decode with them (or
// are tested against fixtures decoded with them), so the two sides cannot
// drift apart. docs/contracts.md names the public source of every type.
package contract

import "encoding/json"

// EntraEvent is a Microsoft Graph change notification for a user, as Event
// Grid delivers it in the CloudEvents 1.0 schema (azure-docs
// articles/event-grid/microsoft-entra-events.md). Subscription lifecycle
// events share the envelope (Microsoft.Graph.SubscriptionReauthorizationRequired).
type EntraEvent struct {
	ID              string         `json:"id"`
	Type            string         `json:"type"`
	Source          string         `json:"source"`
	Subject         string         `json:"subject,omitempty"`
	Time            string         `json:"time,omitempty"`
	DataContentType string         `json:"datacontenttype,omitempty"`
	SpecVersion     string         `json:"specversion"`
	Data            EntraEventData `json:"data"`
}

// EntraEventData is the event's data: a Graph changeNotification.
type EntraEventData struct {
	ChangeType   string             `json:"changeType,omitempty"`
	ClientState  string             `json:"clientState,omitempty"`
	Resource     string             `json:"resource,omitempty"`
	ResourceData *EntraResourceData `json:"resourceData,omitempty"`
	// SubscriptionExpirationDateTime is RFC 3339 with an offset
	// ("+00:00" on Learn, "-08:00" in Microsoft's sample).
	SubscriptionExpirationDateTime string `json:"subscriptionExpirationDateTime,omitempty"`
	SubscriptionID                 string `json:"subscriptionId,omitempty"`
	TenantID                       string `json:"tenantId,omitempty"`
	// LifecycleEvent is set on lifecycle notifications only
	// (reauthorizationRequired, subscriptionRemoved, missed).
	LifecycleEvent string `json:"lifecycleEvent,omitempty"`
}

// EntraResourceData identifies the changed user. Notifications carry ids
// only.
type EntraResourceData struct {
	ODataType      string `json:"@odata.type,omitempty"`
	ODataID        string `json:"@odata.id,omitempty"`
	ID             string `json:"id"`
	OrganizationID string `json:"organizationId,omitempty"`
	EventTime      string `json:"eventTime,omitempty"`
	// SequenceNumber is a string in Learn's property table; holdfast's
	// decoder also accepts the bare number of Learn's example.
	SequenceNumber string `json:"sequenceNumber,omitempty"`
}

// ExoErrorBody is a failed InvokeCommand answer. Captured form (Microsoft365DSC
// issue 2998): error.code "NotFound", error.message "Error executing cmdlet",
// details[0].code "Context", details[0].message
// "<ErrorId>|<ExceptionClass>|<text>", innererror.type the OData wrapper
// class. Parsed in this order by ExoHelper Get-ExoException.ps1 and CIPP
// New-ExoRequest.ps1.
type ExoErrorBody struct {
	Error ExoError `json:"error"`
}

// ExoError is the body's error object.
type ExoError struct {
	Code       string           `json:"code"`
	Message    string           `json:"message"`
	Details    []ExoErrorDetail `json:"details,omitempty"`
	InnerError *ExoInnerError   `json:"innererror,omitempty"`
}

// ExoErrorDetail is one details entry. Code is not a PowerShell
// ErrorCategory: the captured body has "Context".
type ExoErrorDetail struct {
	Code    string `json:"code"`
	Target  string `json:"target"`
	Message string `json:"message"`
}

// ExoInnerError is the innererror object.
type ExoInnerError struct {
	Message           string                `json:"message,omitempty"`
	Type              string                `json:"type,omitempty"`
	StackTrace        string                `json:"stacktrace,omitempty"`
	InternalException *ExoInternalException `json:"internalexception,omitempty"`
}

// ExoInternalException is innererror.internalexception.
type ExoInternalException struct {
	Message string `json:"message"`
	Type    string `json:"type,omitempty"`
}

// ExoPage is one successful InvokeCommand answer (CIPP New-ExoRequest.ps1,
// ExoHelper Invoke-ExoCommand.ps1). Rows stay raw: their property types are
// read leniently by the client.
type ExoPage struct {
	Context      string            `json:"@odata.context,omitempty"`
	WarningsType string            `json:"adminapi.warnings@odata.type,omitempty"`
	Warnings     []string          `json:"@adminapi.warnings,omitempty"`
	Value        []json.RawMessage `json:"value"`
	NextLink     string            `json:"@odata.nextLink,omitempty"`
}

// GraphErrorBody is a Microsoft Graph error answer (Learn graph/errors).
type GraphErrorBody struct {
	Error GraphError `json:"error"`
}

// GraphError is the body's error object.
type GraphError struct {
	Code       string           `json:"code"`
	Message    string           `json:"message"`
	InnerError *GraphInnerError `json:"innerError,omitempty"`
}

// GraphInnerError carries the request ids; the throttling example on Learn
// adds code, message and status.
type GraphInnerError struct {
	Code            string `json:"code,omitempty"`
	Message         string `json:"message,omitempty"`
	Status          string `json:"status,omitempty"`
	Date            string `json:"date,omitempty"`
	RequestID       string `json:"request-id,omitempty"`
	ClientRequestID string `json:"client-request-id,omitempty"`
}

// Answer is one recorded HTTP answer, the form of the fixtures under
// testdata/graph and testdata/exo. Body is JSON; a JSON string stands for
// a text/plain body.
type Answer struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}
