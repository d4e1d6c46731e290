package graph

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/holdfast/holdfast/shared/tenant"
)

// translate turns an SDK error into a *tenant.ServiceError wrapping the
// matching sentinel; transport and context errors pass through wrapped.
func translate(op string, err error) error {
	var se *tenant.ServiceError
	if errors.As(err, &se) {
		return err
	}
	var status int
	var code, msg string
	var oe *odataerrors.ODataError
	var ae *abs.ApiError
	switch {
	case errors.As(err, &oe):
		status = oe.GetStatusCode()
		if main := oe.GetErrorEscaped(); main != nil {
			code, msg = deref(main.GetCode()), deref(main.GetMessage())
		}
	case errors.As(err, &ae):
		status, msg = ae.GetStatusCode(), ae.Message
	default:
		return fmt.Errorf("graph: %s: %w", op, err)
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &tenant.ServiceError{Service: "graph", Status: status, Code: code, Message: msg, Kind: classify(status, code, msg)}
}

// classify maps a Graph failure onto a tenant sentinel. Graph reports most
// refusals as 400 Request_BadRequest, so the message text decides; the
// phrases are those Graph returns for the cases holdfast acts on.
func classify(status int, code, msg string) error {
	lc := strings.ToLower(code)
	lm := strings.ToLower(msg)
	switch {
	// An expired delta token: 400 syncStateNotFound for directory objects
	// (Microsoft 365 Dev Blog, 2020-07-03), 410 Gone with syncStateNotFound or
	// resyncRequired elsewhere (Learn: delta query overview). Checked before
	// 404 so a 410 is never read as "no such object".
	case lc == "syncstatenotfound" || lc == "resyncrequired" || lc == "syncstateinvalid" || status == http.StatusGone:
		return tenant.ErrDeltaExpired
	case status == http.StatusNotFound || lc == "request_resourcenotfound" || lc == "resourcenotfound":
		return tenant.ErrNotFound
	case status == http.StatusTooManyRequests:
		return tenant.ErrThrottled
	case strings.Contains(lm, "does not have any available licenses") ||
		strings.Contains(lm, "no available licenses") ||
		strings.Contains(lm, "not enough licenses") || lc == "countviolation":
		return tenant.ErrNoLicenceUnits
	case status == http.StatusConflict || lc == "request_objectconflict" || lc == "objectconflict" ||
		strings.Contains(lm, "already exists") || strings.Contains(lm, "conflicting object"):
		return tenant.ErrConflict
	}
	return nil
}
