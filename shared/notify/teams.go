package notify

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"

	"github.com/holdfast/holdfast/shared/alert"
)

// Teams posts alerts as Adaptive Cards to a Teams incoming webhook or a
// Workflows ("When a Teams webhook request is received") URL.
//
// The URL is a bearer secret (its sig= token grants posting), so it never
// appears in errors or logs: every error says only "teams webhook".
//
// Requests go through an azcore pipeline rather than a hand-rolled loop
// because its retry policy already does what a webhook client must: it
// honours Retry-After (and retry-after-ms) on 429, backs off exponentially
// with jitter on 5xx and transport errors, rewinds the body between tries,
// bounds each try with a timeout and stops as soon as ctx is done.
type Teams struct {
	url string
	pl  runtime.Pipeline
	// secrets are the pieces of url to scrub from any text we return.
	secrets []string
}

// teamsRetry is the pipeline's retry budget. Retry-After longer than
// MaxRetryDelay is not waited for: the error goes back to the Dispatcher,
// and the alert stays pending for the next sweep.
func teamsRetry() policy.RetryOptions {
	return policy.RetryOptions{
		MaxRetries:    2,
		TryTimeout:    15 * time.Second,
		RetryDelay:    time.Second,
		MaxRetryDelay: 20 * time.Second,
		StatusCodes:   []int{http.StatusRequestTimeout, http.StatusTooManyRequests, 500, 502, 503, 504},
	}
}

// NewTeams returns a Teams channel posting to url. httpClient may be nil
// (azcore's default transport).
func NewTeams(url string, httpClient *http.Client) *Teams {
	return newTeams(url, httpClient, teamsRetry())
}

func newTeams(rawURL string, httpClient *http.Client, retry policy.RetryOptions) *Teams {
	opts := &policy.ClientOptions{Retry: retry}
	if httpClient != nil {
		opts.Transport = httpClient
	}
	// No allowed query parameters: if azcore logging is ever switched on,
	// it redacts sig= along with everything else.
	t := &Teams{url: rawURL, pl: runtime.NewPipeline("holdfast-notify", "v1", runtime.PipelineOptions{}, opts)}
	t.secrets = urlSecrets(rawURL)
	return t
}

// Name implements Channel.
func (t *Teams) Name() string { return "teams" }

// String and GoString keep the URL out of %v and %#v.
func (t *Teams) String() string   { return "teams webhook" }
func (t *Teams) GoString() string { return "notify.Teams{url: [redacted]}" }

// Send implements Channel.
func (t *Teams) Send(ctx context.Context, a alert.Alert) error {
	if t.url == "" {
		return Permanent(errors.New("teams webhook: no URL configured"))
	}
	body, err := json.Marshal(TeamsMessage(a))
	if err != nil {
		return Permanent(fmt.Errorf("teams webhook: encode card: %w", err))
	}
	req, err := runtime.NewRequest(ctx, http.MethodPost, t.url)
	if err != nil {
		// url.Parse errors quote the URL; say nothing about it.
		return Permanent(errors.New("teams webhook: invalid URL"))
	}
	if err := req.SetBody(streaming.NopCloser(bytes.NewReader(body)), "application/json"); err != nil {
		return Permanent(t.redact(err))
	}
	resp, err := t.pl.Do(req)
	if err != nil {
		return t.redact(err)
	}
	payload, _ := runtime.Payload(resp)
	snippet := t.scrub(strings.TrimSpace(truncate(string(payload), 300)))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		// Legacy Office 365 connectors answer some throttled posts with a
		// 2xx and the failure in the body; the card was not posted.
		if strings.Contains(snippet, "delivery failed") || strings.Contains(snippet, "HTTP error 429") {
			return &webhookError{status: resp.StatusCode, msg: snippet}
		}
		return nil
	case isRetryableStatus(resp.StatusCode):
		return &webhookError{status: resp.StatusCode, msg: snippet, retryAfter: retryAfterOf(resp)}
	default:
		// 400 (card rejected), 401/403 (URL revoked), 404/410 (channel or
		// flow deleted): retrying soon won't help; an admin must act.
		return Permanent(&webhookError{status: resp.StatusCode, msg: snippet})
	}
}

// webhookError is a non-success answer from the webhook. It never holds the
// URL.
type webhookError struct {
	status     int
	msg        string
	retryAfter time.Duration
}

func (e *webhookError) Error() string {
	s := "teams webhook: HTTP " + strconv.Itoa(e.status)
	if e.retryAfter > 0 {
		s += " (retry after " + e.retryAfter.String() + ")"
	}
	if e.msg != "" {
		s += ": " + e.msg
	}
	return s
}

// RetryAfter is the delay the service asked for, or zero.
func (e *webhookError) RetryAfter() time.Duration { return e.retryAfter }

// StatusCode is the HTTP status the webhook answered.
func (e *webhookError) StatusCode() int { return e.status }

// isRetryableStatus: throttling, timeouts and server errors pass; anything
// else is the request or the URL being wrong.
func isRetryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

func retryAfterOf(resp *http.Response) time.Duration {
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// redactedError carries a scrubbed message. It unwraps to the cause only
// when the cause's own text is clean, so errors.Is(err, context.Canceled)
// keeps working without a path back to the URL.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

// redact turns a transport or pipeline error into one that cannot reveal
// the webhook URL. *url.Error (what http.Client returns) quotes the full
// URL, so only its inner error is kept.
func (t *Teams) redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := t.scrub(err.Error())
	var cause error
	if msg == err.Error() {
		cause = err
	}
	switch {
	case errors.Is(err, context.Canceled):
		cause = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		cause = context.DeadlineExceeded
	}
	return &redactedError{msg: "teams webhook: " + msg, cause: cause}
}

// scrub removes every secret-bearing piece of the URL from s.
func (t *Teams) scrub(s string) string {
	for _, sec := range t.secrets {
		s = strings.ReplaceAll(s, sec, "[redacted]")
	}
	return s
}

// urlSecrets lists what must never be shown: the URL itself, its path and
// query (raw and decoded), and each query value. Longest first so a
// substring never leaves part of a longer secret behind.
func urlSecrets(raw string) []string {
	set := map[string]bool{raw: true}
	if u, err := url.Parse(raw); err == nil {
		add := func(s string) {
			if len(s) >= 6 {
				set[s] = true
			}
		}
		add(u.RawQuery)
		add(u.EscapedPath())
		add(u.Path)
		for _, vs := range u.Query() {
			for _, v := range vs {
				add(v)
				add(url.QueryEscape(v))
			}
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		if s != "" {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// Teams message and Adaptive Card shapes. Version 1.4 renders in Teams on
// desktop, web and mobile and in Workflows-posted cards; 1.5 features are
// not needed.
const (
	adaptiveCardContentType = "application/vnd.microsoft.card.adaptive"
	adaptiveCardVersion     = "1.4"
	adaptiveCardSchema      = "http://adaptivecards.io/schemas/adaptive-card.json"
	// maxFactValue keeps one odd detail from pushing the message past
	// Teams' 28 KB limit.
	maxFactValue = 500
	maxDetails   = 20
)

// TeamsPayload is the body posted to the webhook.
type TeamsPayload struct {
	Type        string            `json:"type"`
	Attachments []TeamsAttachment `json:"attachments"`
}

// TeamsAttachment wraps one card.
type TeamsAttachment struct {
	ContentType string       `json:"contentType"`
	ContentURL  *string      `json:"contentUrl"`
	Content     AdaptiveCard `json:"content"`
}

// AdaptiveCard is the subset of the Adaptive Card schema holdfast uses.
type AdaptiveCard struct {
	Schema  string         `json:"$schema"`
	Type    string         `json:"type"`
	Version string         `json:"version"`
	Body    []CardElement  `json:"body"`
	MSTeams map[string]any `json:"msteams,omitempty"`
}

// CardElement is a TextBlock or a FactSet.
type CardElement struct {
	Type   string `json:"type"`
	Text   string `json:"text,omitempty"`
	Weight string `json:"weight,omitempty"`
	Size   string `json:"size,omitempty"`
	Color  string `json:"color,omitempty"`
	Wrap   bool   `json:"wrap,omitempty"`
	IsSub  bool   `json:"isSubtle,omitempty"`
	Facts  []Fact `json:"facts,omitempty"`
}

// Fact is one row of a FactSet.
type Fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// TeamsMessage builds the webhook message for a: a title coloured by
// severity and a FactSet with the user, the deadline (UTC and time left),
// the case state, what holdfast will do and what the admin should do.
func TeamsMessage(a alert.Alert) TeamsPayload {
	color := "Default"
	switch a.Severity {
	case alert.SeverityCritical:
		color = "Attention"
	case alert.SeverityWarning:
		color = "Warning"
	case alert.SeverityInfo:
		color = "Good"
	}
	head := title(a.Kind)
	if a.UPN != "" {
		head += ": " + a.UPN
	}
	var facts []Fact
	add := func(t, v string) {
		if v != "" {
			facts = append(facts, Fact{Title: t, Value: truncate(v, maxFactValue)})
		}
	}
	add("User", a.UPN)
	add("Deadline", deadlineText(a))
	add("State", a.State)
	add("Action", a.Action)
	// Always present: the first thing an admin asks is "must I act?".
	add("Remedy", cmp.Or(a.Remedy, noRemedy))
	add("Severity", a.Severity)
	add("Case", a.CaseKey)
	keys := make([]string, 0, len(a.Details))
	for k := range a.Details {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i == maxDetails {
			add("…", strconv.Itoa(len(keys)-maxDetails)+" more detail(s) in the alerts topic message")
			break
		}
		add(k, a.Details[k])
	}
	footer := "Alert " + a.ID
	if !a.At.IsZero() {
		footer += " · raised " + a.At.UTC().Format("2006-01-02 15:04 UTC")
	}
	return TeamsPayload{
		Type: "message",
		Attachments: []TeamsAttachment{{
			ContentType: adaptiveCardContentType,
			Content: AdaptiveCard{
				Schema:  adaptiveCardSchema,
				Type:    "AdaptiveCard",
				Version: adaptiveCardVersion,
				Body: []CardElement{
					{Type: "TextBlock", Text: head, Weight: "Bolder", Size: "Medium", Color: color, Wrap: true},
					{Type: "FactSet", Facts: facts},
					{Type: "TextBlock", Text: footer, IsSub: true, Size: "Small", Wrap: true},
				},
				MSTeams: map[string]any{"width": "Full"},
			},
		}},
	}
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
