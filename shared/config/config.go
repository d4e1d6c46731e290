// Package config reads holdfast's typed configuration from app settings
// (environment variables) and validates all of it at start-up, reporting
// every problem in one error.
package config

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast/holdfast/shared/securestring"
)

// Mode says where holdfast runs.
type Mode string

const (
	// ModeAzure: managed identity, real Graph and Exchange endpoints.
	ModeAzure Mode = "azure"
	// ModeLocal: the local stack (simulator, Azurite), loopback only.
	ModeLocal Mode = "local"
)

// Actions says whether holdfast acts on the tenant.
type Actions string

const (
	// ActionsAct: holdfast places holds, rescues and sends alert mail.
	ActionsAct Actions = "act"
	// ActionsObserve: every decision is made and audited, every tenant
	// write (hold, restore, licence, restore request, recovery, alert mail)
	// is recorded on the case as a planned action instead (rollout).
	ActionsObserve Actions = "observe"
)

// Setting describes one app setting the binary reads.
type Setting struct {
	Name    string
	Default string
	Secret  bool // never printed or logged
	Doc     string
}

// Settings is the complete list of app settings holdfast reads. The
// consistency test in infra/ checks it against Bicep and
// local.settings.sample.json, so add new settings here first.
func Settings() []Setting {
	return []Setting{
		{Name: "FUNCTIONS_CUSTOMHANDLER_PORT", Doc: "port the Functions host assigns; set by the host, makes serve the default command"},
		{Name: "AzureWebJobsStorage", Secret: true, Doc: "storage connection string (local: UseDevelopmentStorage=true); unset in Azure, where the identity-based form is used"},
		{Name: "AzureWebJobsStorage__accountName", Doc: "storage account name for identity-based access in Azure"},
		{Name: "AzureWebJobsStorage__tableServiceUri", Doc: "table endpoint override for identity-based access (sovereign clouds)"},
		{Name: "ServiceBusConnection", Secret: true, Doc: "Service Bus connection string (local/integration only)"},
		{Name: "ServiceBusConnection__fullyQualifiedNamespace", Doc: "Service Bus namespace host for managed identity, e.g. ns.servicebus.windows.net"},
		{Name: "AZURE_CLIENT_ID", Doc: "client id of the user-assigned managed identity"},
		{Name: "HOLDFAST_MODE", Default: "azure", Doc: "azure or local"},
		{Name: "HOLDFAST_TENANT_ID", Doc: "Entra tenant id (GUID) holdfast protects"},
		{Name: "HOLDFAST_ACTIONS", Default: "act", Doc: "act, or observe: decide and audit everything but only record the tenant writes (holds, rescues, alert mail) as planned actions"},
		{Name: "HOLDFAST_GRAPH_BASE_URL", Default: "https://graph.microsoft.com/v1.0", Doc: "Microsoft Graph base URL"},
		{Name: "HOLDFAST_EXCHANGE_BASE_URL", Default: "https://outlook.office365.com", Doc: "Exchange Online admin API base URL"},
		{Name: "HOLDFAST_SWEEP_SCHEDULE", Default: "0 */5 * * * *", Doc: "NCRONTAB schedule of ExpirySweep"},
		{Name: "HOLDFAST_RECONCILE_SCHEDULE", Default: "0 0 */6 * * *", Doc: "NCRONTAB schedule of Reconcile"},
		{Name: "HOLDFAST_DEFAULT_RETENTION", Default: "retain", Doc: "decision for a leaver with no HR decision: retain or release"},
		{Name: "HOLDFAST_HOLD_DURATION_DAYS", Default: "0", Doc: "Litigation Hold duration in days; 0 is unlimited"},
		{Name: "HOLDFAST_HOLD_PROPAGATION", Default: "60m", Doc: "how long a new hold takes to be in effect"},
		{Name: "HOLDFAST_EXCHANGE_LAG", Default: "24h", Doc: "how long Exchange may lag behind the directory; a mailbox is written off only after readings spanning longer"},
		{Name: "HOLDFAST_WARN_THRESHOLDS", Default: "14d,7d,3d,1d", Doc: "warnings before a purge deadline"},
		{Name: "HOLDFAST_RESCUE_MODE", Default: "undelete", Doc: "undelete or copy-to-archive"},
		{Name: "HOLDFAST_RESCUE_MARGIN", Default: "72h", Doc: "how long before the purge deadline a rescue starts"},
		{Name: "HOLDFAST_ARCHIVE_TARGET", Doc: "UPN of the mailbox that receives copy-to-archive restores"},
		{Name: "HOLDFAST_POLICY_FILE", Doc: "optional JSON file with per-department policy rules"},
		{Name: "HOLDFAST_EXO_SECURESTRING_KEY", Doc: "Microsoft's public key for SecureString cmdlet parameters (-Password), as <RSAKeyValue> XML or PEM; empty: recoveries that need a password stop at a blocker with the PowerShell to run (docs/contracts.md)"},
		{Name: "HOLDFAST_GRAPH_CLIENT_STATE", Secret: true, Doc: "clientState of the Graph users subscription; notifications that do not carry it are rejected (empty: not checked)"},
		{Name: "HOLDFAST_TEAMS_WEBHOOK_URL", Secret: true, Doc: "Teams incoming webhook / Workflows URL for alerts"},
		{Name: "HOLDFAST_ALERT_MAIL_FROM", Doc: "mailbox that sends alert mail through Graph sendMail"},
		{Name: "HOLDFAST_ALERT_MAIL_TO", Doc: "comma-separated alert mail recipients"},
		{Name: "HOLDFAST_RETRY_BUDGET", Default: "6h", Doc: "how long a message failing transiently is retried, with growing delays, before it is dead-lettered"},
		{Name: "HOLDFAST_ALERTS_TOPIC", Default: "alerts", Doc: "Service Bus topic for alerts"},
		{Name: "HOLDFAST_LOG_LEVEL", Default: "info", Doc: "trace, debug, info, warn or error"},
		{Name: "HOLDFAST_CLOCK_URL", Doc: "local mode only: read the time from the tenant simulator's virtual clock"},
	}
}

// Config is the validated configuration.
type Config struct {
	Mode     Mode
	TenantID string
	// Actions: act, or observe (plan and record tenant writes only).
	Actions Actions

	// Table storage: either a connection string or an endpoint for
	// identity-based access.
	TableConnectionString string
	TableServiceURL       string

	ServiceBusConnectionString string
	ServiceBusNamespace        string
	ManagedIdentityClientID    string

	GraphBaseURL    string
	ExchangeBaseURL string
	// GraphClientState is the shared secret Graph puts in every change
	// notification of holdfast's subscription.
	GraphClientState string
	// ExchangeSecureStringKey encrypts -Password values; nil: not
	// configured (see package securestring).
	ExchangeSecureStringKey *rsa.PublicKey

	SweepSchedule     string
	ReconcileSchedule string

	Policy Policy
	Alerts Alerts

	LogLevel string

	// RetryBudget bounds how long a queue message that fails transiently
	// is rescheduled before it is left to the dead-letter queue.
	RetryBudget time.Duration

	// ClockURL, local mode only: the simulator whose GET /_sim/clock
	// gives the time (empty: the system clock).
	ClockURL string
}

// Policy is the retention policy configured by app settings.
type Policy struct {
	DefaultRetention string // retain or release
	HoldDurationDays int    // 0 = unlimited
	HoldPropagation  time.Duration
	ExchangeLag      time.Duration
	WarnThresholds   []time.Duration // descending
	RescueMode       string          // undelete or copy-to-archive
	RescueMargin     time.Duration
	ArchiveTarget    string
	PolicyFile       string
}

// Alerts configures the alert channels. Empty fields disable a channel.
type Alerts struct {
	TeamsWebhookURL string
	MailFrom        string
	MailTo          []string
	Topic           string
}

// DevStorageConnectionString is what UseDevelopmentStorage=true means for
// the table service; the Go SDK rejects the shorthand.
const DevStorageConnectionString = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"

// ExpandStorageConnectionString turns UseDevelopmentStorage=true (with an
// optional DevelopmentStorageProxyUri) into the full devstoreaccount1 form.
func ExpandStorageConnectionString(cs string) string {
	parts := map[string]string{}
	for _, p := range strings.Split(cs, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok {
			parts[strings.ToLower(k)] = v
		}
	}
	if !strings.EqualFold(parts["usedevelopmentstorage"], "true") {
		return cs
	}
	proxy := parts["developmentstorageproxyuri"]
	if proxy == "" {
		return DevStorageConnectionString
	}
	u, err := url.Parse(proxy)
	if err != nil || u.Host == "" {
		return DevStorageConnectionString
	}
	return "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=" +
		u.Scheme + "://" + u.Hostname() + ":10002/devstoreaccount1;"
}

// Getenv looks a setting up; os.LookupEnv in production, a map in tests.
type Getenv func(name string) (string, bool)

// FromEnv reads the configuration from the process environment.
func FromEnv() (Config, error) { return Load(os.LookupEnv) }

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Load reads and validates every setting and returns all problems at once.
func Load(getenv Getenv) (Config, error) {
	defaults := map[string]string{}
	for _, s := range Settings() {
		defaults[s.Name] = s.Default
	}
	get := func(name string) string {
		if v, ok := getenv(name); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
		return defaults[name]
	}
	var problems []string
	bad := func(name, format string, args ...any) {
		problems = append(problems, name+": "+fmt.Sprintf(format, args...))
	}

	var c Config
	c.Mode = Mode(strings.ToLower(get("HOLDFAST_MODE")))
	if c.Mode != ModeAzure && c.Mode != ModeLocal {
		bad("HOLDFAST_MODE", "must be azure or local, got %q", c.Mode)
	}
	c.Actions = Actions(strings.ToLower(get("HOLDFAST_ACTIONS")))
	if c.Actions != ActionsAct && c.Actions != ActionsObserve {
		bad("HOLDFAST_ACTIONS", "must be act or observe, got %q", c.Actions)
	}
	c.TenantID = get("HOLDFAST_TENANT_ID")
	if c.TenantID == "" {
		bad("HOLDFAST_TENANT_ID", "missing (the Entra tenant id)")
	} else if !guidRE.MatchString(c.TenantID) {
		bad("HOLDFAST_TENANT_ID", "must be a GUID")
	}

	if cs := get("AzureWebJobsStorage"); cs != "" {
		c.TableConnectionString = ExpandStorageConnectionString(cs)
	} else if uri := get("AzureWebJobsStorage__tableServiceUri"); uri != "" {
		c.TableServiceURL = uri
	} else if acct := get("AzureWebJobsStorage__accountName"); acct != "" {
		c.TableServiceURL = "https://" + acct + ".table.core.windows.net"
	} else {
		bad("AzureWebJobsStorage", "missing: set AzureWebJobsStorage__accountName (managed identity) or AzureWebJobsStorage (connection string)")
	}

	c.ServiceBusConnectionString = get("ServiceBusConnection")
	c.ServiceBusNamespace = get("ServiceBusConnection__fullyQualifiedNamespace")
	c.ManagedIdentityClientID = get("AZURE_CLIENT_ID")

	c.GraphClientState = get("HOLDFAST_GRAPH_CLIENT_STATE")
	if k := get("HOLDFAST_EXO_SECURESTRING_KEY"); k != "" {
		key, err := securestring.ParseKey(k)
		if err != nil {
			bad("HOLDFAST_EXO_SECURESTRING_KEY", "%v", err)
		}
		c.ExchangeSecureStringKey = key
	}
	c.GraphBaseURL = strings.TrimRight(get("HOLDFAST_GRAPH_BASE_URL"), "/")
	c.ExchangeBaseURL = strings.TrimRight(get("HOLDFAST_EXCHANGE_BASE_URL"), "/")
	for name, v := range map[string]string{"HOLDFAST_GRAPH_BASE_URL": c.GraphBaseURL, "HOLDFAST_EXCHANGE_BASE_URL": c.ExchangeBaseURL} {
		u, err := url.Parse(v)
		switch {
		case err != nil || u.Host == "":
			bad(name, "not an absolute URL")
		case c.Mode == ModeAzure && u.Scheme != "https":
			bad(name, "must use https in azure mode")
		case c.Mode == ModeLocal && !isLoopback(u.Hostname()):
			bad(name, "must point at a loopback address in local mode")
		}
	}

	c.SweepSchedule = get("HOLDFAST_SWEEP_SCHEDULE")
	c.ReconcileSchedule = get("HOLDFAST_RECONCILE_SCHEDULE")
	for name, v := range map[string]string{"HOLDFAST_SWEEP_SCHEDULE": c.SweepSchedule, "HOLDFAST_RECONCILE_SCHEDULE": c.ReconcileSchedule} {
		if len(strings.Fields(v)) != 6 {
			bad(name, "must be a 6-field NCRONTAB expression, got %q", v)
		}
	}

	p := &c.Policy
	p.DefaultRetention = strings.ToLower(get("HOLDFAST_DEFAULT_RETENTION"))
	if p.DefaultRetention != "retain" && p.DefaultRetention != "release" {
		bad("HOLDFAST_DEFAULT_RETENTION", "must be retain or release")
	}
	if n, err := strconv.Atoi(get("HOLDFAST_HOLD_DURATION_DAYS")); err != nil || n < 0 || n > 36500 {
		bad("HOLDFAST_HOLD_DURATION_DAYS", "must be a number of days between 0 (unlimited) and 36500")
	} else {
		p.HoldDurationDays = n
	}
	var err error
	if p.HoldPropagation, err = ParseDuration(get("HOLDFAST_HOLD_PROPAGATION")); err != nil || p.HoldPropagation < 0 {
		bad("HOLDFAST_HOLD_PROPAGATION", "must be a duration like 60m or 4h")
	}
	if p.ExchangeLag, err = ParseDuration(get("HOLDFAST_EXCHANGE_LAG")); err != nil || p.ExchangeLag <= 0 || p.ExchangeLag > 7*24*time.Hour {
		bad("HOLDFAST_EXCHANGE_LAG", "must be a positive duration up to 7d, like 24h")
	}
	for _, f := range strings.Split(get("HOLDFAST_WARN_THRESHOLDS"), ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		d, err := ParseDuration(strings.TrimSpace(f))
		if err != nil || d <= 0 {
			bad("HOLDFAST_WARN_THRESHOLDS", "%q is not a positive duration", f)
			continue
		}
		p.WarnThresholds = append(p.WarnThresholds, d)
	}
	sort.Slice(p.WarnThresholds, func(i, j int) bool { return p.WarnThresholds[i] > p.WarnThresholds[j] })
	p.RescueMode = strings.ToLower(get("HOLDFAST_RESCUE_MODE"))
	if p.RescueMode != "undelete" && p.RescueMode != "copy-to-archive" {
		bad("HOLDFAST_RESCUE_MODE", "must be undelete or copy-to-archive")
	}
	if p.RescueMargin, err = ParseDuration(get("HOLDFAST_RESCUE_MARGIN")); err != nil || p.RescueMargin <= 0 || p.RescueMargin >= 29*24*time.Hour {
		bad("HOLDFAST_RESCUE_MARGIN", "must be a positive duration under 29d")
	}
	p.ArchiveTarget = get("HOLDFAST_ARCHIVE_TARGET")
	if p.RescueMode == "copy-to-archive" && p.ArchiveTarget == "" {
		bad("HOLDFAST_ARCHIVE_TARGET", "required when HOLDFAST_RESCUE_MODE is copy-to-archive")
	}
	p.PolicyFile = get("HOLDFAST_POLICY_FILE")

	a := &c.Alerts
	a.TeamsWebhookURL = get("HOLDFAST_TEAMS_WEBHOOK_URL")
	if a.TeamsWebhookURL != "" {
		if u, err := url.Parse(a.TeamsWebhookURL); err != nil || u.Host == "" || (u.Scheme != "https" && !(c.Mode == ModeLocal && isLoopback(u.Hostname()))) {
			bad("HOLDFAST_TEAMS_WEBHOOK_URL", "must be an https URL") // value never echoed: it is a secret
		}
	}
	a.MailFrom = get("HOLDFAST_ALERT_MAIL_FROM")
	for _, r := range strings.Split(get("HOLDFAST_ALERT_MAIL_TO"), ",") {
		if r = strings.TrimSpace(r); r != "" {
			a.MailTo = append(a.MailTo, r)
		}
	}
	if (a.MailFrom == "") != (len(a.MailTo) == 0) {
		bad("HOLDFAST_ALERT_MAIL_TO", "HOLDFAST_ALERT_MAIL_FROM and HOLDFAST_ALERT_MAIL_TO must be set together")
	}
	a.Topic = get("HOLDFAST_ALERTS_TOPIC")

	// Above 7 days a decision waits too long for anyone to notice; below
	// a few minutes the budget rides out nothing Service Bus would not.
	if c.RetryBudget, err = ParseDuration(get("HOLDFAST_RETRY_BUDGET")); err != nil || c.RetryBudget < 5*time.Minute || c.RetryBudget > 7*24*time.Hour {
		bad("HOLDFAST_RETRY_BUDGET", "must be a duration between 5m and 7d, like 6h")
	}

	c.LogLevel = strings.ToLower(get("HOLDFAST_LOG_LEVEL"))
	switch c.LogLevel {
	case "trace", "debug", "info", "warn", "error":
	default:
		bad("HOLDFAST_LOG_LEVEL", "must be trace, debug, info, warn or error")
	}

	// A remote virtual clock lets a handler in its own process (crash
	// injection) share the simulator's time; never in Azure.
	c.ClockURL = strings.TrimRight(get("HOLDFAST_CLOCK_URL"), "/")
	if c.ClockURL != "" {
		u, err := url.Parse(c.ClockURL)
		switch {
		case c.Mode != ModeLocal:
			bad("HOLDFAST_CLOCK_URL", "only allowed in local mode")
		case err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https":
			bad("HOLDFAST_CLOCK_URL", "not an absolute http(s) URL")
		case !isLoopback(u.Hostname()):
			bad("HOLDFAST_CLOCK_URL", "must point at a loopback address")
		}
	}

	if len(problems) > 0 {
		sort.Strings(problems)
		return c, &Error{Problems: problems}
	}
	return c, nil
}

// Error lists every invalid or missing setting.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.Problems, "\n  ")
}

// ErrInvalid matches any configuration error with errors.Is.
var ErrInvalid = errors.New("invalid configuration")

// Is makes errors.Is(err, ErrInvalid) true for *Error.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

func isLoopback(host string) bool {
	return host == "localhost" || host == "::1" || strings.HasPrefix(host, "127.")
}

// ParseDuration accepts Go durations plus day units: "30d", "2d3h", "45m".
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	var total time.Duration
	rest := s
	if i := strings.IndexByte(rest, 'd'); i >= 0 {
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n < 0 || n > 100000 {
			return 0, fmt.Errorf("bad day count in %q", s)
		}
		total = time.Duration(n) * 24 * time.Hour
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q: %w", s, err)
		}
		total += d
	}
	return total, nil
}
