package graph

import (
	"errors"
	"fmt"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/holdfast/holdfast/shared/graph/odata"
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
	return odata.Error(status, code, msg)
}
