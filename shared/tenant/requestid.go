package tenant

import "context"

// requestIDKey is the context key of WithRequestID.
type requestIDKey struct{}

// WithRequestID returns ctx carrying the client-request-id the next write
// through a Graph or Exchange adapter is to be sent with. The caller puts
// the same id in the audit row that records the write, so Microsoft's logs
// and support can find the request from the evidence. Every attempt of
// the call, retries included, carries it.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the id WithRequestID put in ctx, or "" (the adapter
// then picks one per call).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
