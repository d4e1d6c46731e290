package store

import (
	"context"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/holdfast/holdfast/shared/ledger"
)

// opKey carries the store operation name to countPolicy.
type opKey struct{}

func withOp(ctx context.Context, op string) context.Context {
	return context.WithValue(ctx, opKey{}, op)
}

// countPolicy sits in the per-retry part of the azcore pipeline, so it runs
// once per attempt on the wire.
type countPolicy struct{ c *ledger.Counter }

func (p countPolicy) Do(req *policy.Request) (*http.Response, error) {
	if p.c != nil {
		op, _ := req.Raw().Context().Value(opKey{}).(string)
		if op == "" {
			op = req.Raw().Method
		}
		p.c.Add(op)
	}
	return req.Next()
}
