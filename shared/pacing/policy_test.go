package pacing_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/holdfast/holdfast/shared/pacing"
)

type answerTransport struct {
	resp func(*http.Request) *http.Response
}

func (a answerTransport) Do(r *http.Request) (*http.Response, error) { return a.resp(r), nil }

// The pacing policy tells the retry policy above it not to sleep a pause the
// Limiter already holds, and leaves answers it holds no pause for alone.
func TestPolicyHandsThePauseToTheLimiter(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header map[string]string
		wantMS string // retry-after-ms on the answer the caller sees
	}{
		{"429 with Retry-After", http.StatusTooManyRequests, map[string]string{"Retry-After": "1"}, "1"},
		{"429 asking for more than a minute: the caller gives up, untouched", http.StatusTooManyRequests, map[string]string{"Retry-After": "3600"}, ""},
		{"200", http.StatusOK, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := pacing.New("exchange", pacing.Unknown())
			pl := runtime.NewPipeline("test", "v1", runtime.PipelineOptions{PerRetry: []policy.Policy{pacing.Policy(l)}}, &policy.ClientOptions{
				Retry: policy.RetryOptions{MaxRetries: -1},
				Transport: answerTransport{func(r *http.Request) *http.Response {
					resp := &http.Response{StatusCode: tc.status, Header: http.Header{}, Request: r, Body: http.NoBody}
					for k, v := range tc.header {
						resp.Header.Set(k, v)
					}
					return resp
				}},
			})
			req, err := runtime.NewRequest(context.Background(), http.MethodPost, "http://127.0.0.1/adminapi")
			if err != nil {
				t.Fatal(err)
			}
			resp, err := pl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Header.Get("retry-after-ms"); got != tc.wantMS {
				t.Fatalf("retry-after-ms %q, want %q", got, tc.wantMS)
			}
			if tc.header["Retry-After"] != "" && resp.Header.Get("Retry-After") != tc.header["Retry-After"] {
				t.Fatal("Retry-After was not kept")
			}
		})
	}
}
