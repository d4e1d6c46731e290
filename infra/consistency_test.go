package infra

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/config"
)

// The settings the checker treats specially. Each entry says why; keep them
// small: everything else the binary reads must be in Bicep and in
// local.settings.sample.json.
var (
	// Set by the Functions host on the handler process; never configured.
	hostProvided = map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT": "the host picks the port and passes it to the handler",
	}
	// Connection-string forms: local stack and integration tests only. In
	// Azure the identity-based forms are used and no secret is deployed.
	localOnly = map[string]string{
		"AzureWebJobsStorage":  "storage connection string; Azure uses AzureWebJobsStorage__accountName + managed identity",
		"ServiceBusConnection": "Service Bus connection string; Azure uses ServiceBusConnection__fullyQualifiedNamespace + managed identity",
		"HOLDFAST_CLOCK_URL":   "the simulator's virtual clock for a handler in its own process (crash injection); rejected outside local mode",
	}
	// In local.settings.sample.json for the local host, but not read by the
	// binary and never set in Bicep (Flex Consumption derives it from
	// functionAppConfig.runtime and rejects the setting).
	sampleHostOnly = map[string]string{
		"FUNCTIONS_WORKER_RUNTIME": "local Functions host needs it; Flex sets the runtime in functionAppConfig",
	}
	// Settings the platform (host, identity, telemetry) reads that the
	// binary does not; allowed in Bicep although not in config.Settings().
	platformOnly = map[string]string{
		"AzureWebJobsStorage__credential":           "host: identity-based AzureWebJobsStorage",
		"AzureWebJobsStorage__clientId":             "host: which user-assigned identity",
		"ServiceBusConnection__credential":          "Service Bus extension: identity-based connection",
		"ServiceBusConnection__clientId":            "Service Bus extension: which user-assigned identity",
		"APPLICATIONINSIGHTS_CONNECTION_STRING":     "host telemetry",
		"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "host telemetry with Entra auth (local auth disabled)",
	}
	// Settings whose Bicep value is not a literal or a parameter: where their
	// default is checked instead.
	derivedDefaults = map[string]string{
		"HOLDFAST_ALERTS_TOPIC": "serviceBus.outputs.alertsTopicName",
	}
	// Table names the store uses: store.DefaultTablePrefix ("holdfast") +
	// cases, timers, rejected (shared/store/store.go). Hard-coded until the
	// store exports them.
	storeTables = []string{"holdfastcases", "holdfasttimers", "holdfastrejected"}
	// The only token scopes the code may request (docs/permissions.md).
	allowedScopes = []string{"https://graph.microsoft.com/.default", "https://outlook.office365.com/.default"}
)

// layout says where the checker reads from, so a test can point it at a
// mutated copy.
type layout struct {
	Root  string // repository root: host.json, local.settings.sample.json, functions/, azure.yaml, Makefile
	Infra string // infra/: main.bicep, main.parameters.json, modules/
}

func repoLayout(t *testing.T) layout {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return layout{Root: root, Infra: filepath.Join(root, "infra")}
}

// checker accumulates problems; one run reports all of them.
type checker struct {
	l        layout
	problems []string
}

func (c *checker) addf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func (c *checker) read(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		c.addf("read %s: %v", path, err)
		return ""
	}
	return string(b)
}

// check runs every consistency rule against l and returns the problems,
// sorted. An empty result means code, function.json, the sample settings
// and Bicep agree.
func check(l layout, settings []config.Setting) []string {
	c := &checker{l: l}
	known := map[string]config.Setting{}
	for _, s := range settings {
		known[s.Name] = s
	}

	mainBicep := c.read(filepath.Join(l.Infra, "main.bicep"))
	app := c.appSettings(mainBicep)
	params := bicepParams(mainBicep)

	c.checkSample(known)
	c.checkBicepSettings(known, app, params)
	c.checkParametersFile(known, mainBicep)
	queues, topics := c.checkFunctions(known, app)
	c.checkServiceBus(known, app, queues, topics)
	c.checkTables()
	c.checkHostJSON()
	c.checkPackaging()
	c.checkScopes()

	sort.Strings(c.problems)
	return c.problems
}

var (
	settingLineRE = regexp.MustCompile(`^\{\s*name:\s*'([^']+)'\s*,\s*value:\s*(.+?)\s*\}$`)
	paramRE       = regexp.MustCompile(`(?m)^param\s+(\w+)\s+\w+\s*=\s*'([^']*)'`)
	paramNameRE   = regexp.MustCompile(`(?m)^param\s+(\w+)\s`)
	stringLitRE   = regexp.MustCompile(`^'([^']*)'$`)
	identRE       = regexp.MustCompile(`^[A-Za-z_]\w*$`)
	quotedRE      = regexp.MustCompile(`'([^']*)'`)
	percentRE     = regexp.MustCompile(`%([^%\s]+)%`)
	envRefRE      = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?\}$`)
	scopeRE       = regexp.MustCompile(`"(https://[^"\s]+/\.default)"`)
)

// appSettings parses the app settings block of main.bicep. Convention
// (documented there): between "// BEGIN app settings" and "// END app
// settings", one `{ name: 'X', value: <expr> }` per line.
func (c *checker) appSettings(src string) map[string]string {
	lines := strings.Split(src, "\n")
	begin, end := -1, -1
	for i, ln := range lines {
		switch strings.TrimSpace(ln) {
		case "// BEGIN app settings":
			begin = i
		case "// END app settings":
			end = i
		}
	}
	out := map[string]string{}
	if begin < 0 || end < begin {
		c.addf("main.bicep: no `// BEGIN app settings` ... `// END app settings` block (the convention the test relies on)")
		return out
	}
	for i := begin + 1; i < end; i++ {
		ln := strings.TrimSpace(lines[i])
		if ln == "" || strings.HasPrefix(ln, "//") {
			continue
		}
		m := settingLineRE.FindStringSubmatch(ln)
		if m == nil {
			c.addf("main.bicep:%d: app setting line does not follow `{ name: 'X', value: ... }`: %s", i+1, ln)
			continue
		}
		if _, dup := out[m[1]]; dup {
			c.addf("main.bicep:%d: app setting %s set twice", i+1, m[1])
		}
		out[m[1]] = m[2]
	}
	if len(out) == 0 {
		c.addf("main.bicep: found no app settings between the markers; the parse convention is broken")
	}
	return out
}

func bicepParams(src string) map[string]string {
	out := map[string]string{}
	for _, m := range paramRE.FindAllStringSubmatch(src, -1) {
		out[m[1]] = m[2]
	}
	return out
}

func (c *checker) checkSample(known map[string]config.Setting) {
	var sample struct {
		Values map[string]string `json:"Values"`
	}
	raw := c.read(filepath.Join(c.l.Root, "local.settings.sample.json"))
	if err := json.Unmarshal([]byte(raw), &sample); err != nil {
		c.addf("local.settings.sample.json: %v", err)
		return
	}
	for name := range known {
		if _, ok := sample.Values[name]; ok {
			continue
		}
		if _, ok := hostProvided[name]; ok {
			continue
		}
		c.addf("local.settings.sample.json: %s is read by the binary (shared/config Settings()) but not documented; add \"%s\": \"\"", name, name)
	}
	for name := range sample.Values {
		if _, ok := known[name]; ok {
			continue
		}
		if _, ok := sampleHostOnly[name]; ok {
			continue
		}
		c.addf("local.settings.sample.json: %s is not a setting the binary reads (shared/config Settings())", name)
	}
}

func (c *checker) checkBicepSettings(known map[string]config.Setting, app, params map[string]string) {
	for name := range known {
		_, inBicep := app[name]
		_, host := hostProvided[name]
		_, local := localOnly[name]
		switch {
		case (host || local) && inBicep:
			c.addf("main.bicep: %s must not be an app setting (%s%s)", name, hostProvided[name], localOnly[name])
		case !host && !local && !inBicep:
			c.addf("main.bicep: %s is read by the binary but not set in the app settings", name)
		}
	}
	for name := range sampleHostOnly {
		if _, ok := app[name]; ok {
			c.addf("main.bicep: %s must not be an app setting (%s)", name, sampleHostOnly[name])
		}
	}
	for name, expr := range app {
		s, isSetting := known[name]
		if !isSetting {
			if _, ok := platformOnly[name]; !ok {
				c.addf("main.bicep: app setting %s is neither read by the binary (shared/config Settings()) nor a known platform setting", name)
			}
			continue
		}
		if s.Secret && stringLitRE.MatchString(expr) && expr != "''" {
			c.addf("main.bicep: %s is a secret; it must not be a literal in Bicep", name)
		}
		if s.Default == "" {
			continue
		}
		if want, ok := derivedDefaults[name]; ok {
			if expr != want {
				c.addf("main.bicep: %s = %s, want %s", name, expr, want)
			}
			continue
		}
		var got string
		switch {
		case stringLitRE.MatchString(expr):
			got = stringLitRE.FindStringSubmatch(expr)[1]
		case identRE.MatchString(expr):
			d, ok := params[expr]
			if !ok {
				c.addf("main.bicep: %s uses %s, which is not a param with a string default", name, expr)
				continue
			}
			got = d
		default:
			c.addf("main.bicep: cannot check the default of %s (value %s is neither a literal nor a param)", name, expr)
			continue
		}
		if got != s.Default {
			c.addf("main.bicep: %s defaults to %q, shared/config says %q", name, got, s.Default)
		}
	}
}

// checkParametersFile: azd maps environment variables to parameters with
// ${NAME=default}; a default given for a holdfast setting must match the code.
func (c *checker) checkParametersFile(known map[string]config.Setting, mainBicep string) {
	declared := map[string]bool{}
	for _, m := range paramNameRE.FindAllStringSubmatch(mainBicep, -1) {
		declared[m[1]] = true
	}
	var pf struct {
		Parameters map[string]struct {
			Value any `json:"value"`
		} `json:"parameters"`
	}
	raw := c.read(filepath.Join(c.l.Infra, "main.parameters.json"))
	if err := json.Unmarshal([]byte(raw), &pf); err != nil {
		c.addf("main.parameters.json: %v", err)
		return
	}
	for pname, p := range pf.Parameters {
		v, ok := p.Value.(string)
		if !ok {
			continue
		}
		if !declared[pname] {
			c.addf("main.parameters.json: %s is not a param of main.bicep", pname)
		}
		m := envRefRE.FindStringSubmatch(v)
		if m == nil {
			continue
		}
		s, ok := known[m[1]]
		if !ok || !strings.Contains(v, "=") {
			continue
		}
		if m[2] != s.Default {
			c.addf("main.parameters.json: %s defaults %s to %q, shared/config says %q", pname, m[1], m[2], s.Default)
		}
	}
}

type functionJSON struct {
	Bindings []map[string]any `json:"bindings"`
}

// checkFunctions reads every functions/*/function.json and returns the queue
// and topic names their bindings use.
func (c *checker) checkFunctions(known map[string]config.Setting, app map[string]string) (queues, topics map[string]string) {
	queues, topics = map[string]string{}, map[string]string{}
	paths, err := filepath.Glob(filepath.Join(c.l.Root, "functions", "*", "function.json"))
	if err != nil || len(paths) == 0 {
		c.addf("functions/*/function.json: none found (%v)", err)
		return
	}
	for _, p := range paths {
		fn := filepath.Base(filepath.Dir(p))
		var f functionJSON
		if err := json.Unmarshal([]byte(c.read(p)), &f); err != nil {
			c.addf("%s/function.json: %v", fn, err)
			continue
		}
		for _, b := range f.Bindings {
			for key, v := range b {
				s, ok := v.(string)
				if !ok {
					continue
				}
				for _, m := range percentRE.FindAllStringSubmatch(s, -1) {
					if _, ok := known[m[1]]; !ok {
						c.addf("%s/function.json: %s references %%%s%%, which shared/config Settings() does not list", fn, key, m[1])
					}
					if _, ok := app[m[1]]; !ok {
						c.addf("%s/function.json: %s references %%%s%%, which main.bicep does not set", fn, key, m[1])
					}
				}
			}
			if conn, ok := b["connection"].(string); ok && conn != "" {
				for _, suffix := range []string{"__fullyQualifiedNamespace", "__credential", "__clientId"} {
					if _, ok := app[conn+suffix]; !ok {
						c.addf("%s/function.json: connection %q needs %s%s in main.bicep (identity-based connection)", fn, conn, conn, suffix)
					}
				}
				if _, ok := known[conn]; !ok {
					c.addf("%s/function.json: connection %q is not in shared/config Settings() (local connection string)", fn, conn)
				}
				if _, ok := known[conn+"__fullyQualifiedNamespace"]; !ok {
					c.addf("%s/function.json: %s__fullyQualifiedNamespace is not in shared/config Settings()", fn, conn)
				}
			}
			if q, ok := b["queueName"].(string); ok {
				queues[q] = fn
			}
			if tp, ok := b["topicName"].(string); ok {
				topics[tp] = fn
			}
		}
	}
	return queues, topics
}

func bicepStringList(src, varName string) ([]string, bool) {
	re := regexp.MustCompile(`(?m)^var\s+` + regexp.QuoteMeta(varName) + `\s*=\s*\[([^\]]*)\]`)
	m := re.FindStringSubmatch(src)
	if m == nil {
		return nil, false
	}
	var out []string
	for _, q := range quotedRE.FindAllStringSubmatch(m[1], -1) {
		out = append(out, q[1])
	}
	return out, true
}

func (c *checker) checkServiceBus(known map[string]config.Setting, app map[string]string, queues, topics map[string]string) {
	src := c.read(filepath.Join(c.l.Infra, "modules", "servicebus.bicep"))
	bicepQueues, ok := bicepStringList(src, "queueNames")
	if !ok {
		c.addf("modules/servicebus.bicep: no `var queueNames = [...]` line")
	}
	inBicep := map[string]bool{}
	for _, q := range bicepQueues {
		inBicep[q] = true
		if _, ok := queues[q]; !ok {
			c.addf("modules/servicebus.bicep: queue %q has no trigger in functions/*/function.json", q)
		}
	}
	for q, fn := range queues {
		if !inBicep[q] {
			c.addf("%s/function.json: queue %q is not created in modules/servicebus.bicep", fn, q)
		}
	}
	m := regexp.MustCompile(`(?m)^var\s+alertsTopicName\s*=\s*'([^']*)'`).FindStringSubmatch(src)
	if m == nil {
		c.addf("modules/servicebus.bicep: no `var alertsTopicName = '...'` line")
		return
	}
	topic := m[1]
	if s, ok := known["HOLDFAST_ALERTS_TOPIC"]; ok && s.Default != topic {
		c.addf("modules/servicebus.bicep: alerts topic %q, shared/config HOLDFAST_ALERTS_TOPIC defaults to %q", topic, s.Default)
	}
	for tp, fn := range topics {
		if tp != topic {
			c.addf("%s/function.json: topic %q is not created in modules/servicebus.bicep", fn, tp)
		}
	}
}

func (c *checker) checkTables() {
	src := c.read(filepath.Join(c.l.Infra, "modules", "storage.bicep"))
	got, ok := bicepStringList(src, "tableNames")
	if !ok {
		c.addf("modules/storage.bicep: no `var tableNames = [...]` line")
		return
	}
	sort.Strings(got)
	want := append([]string(nil), storeTables...)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		c.addf("modules/storage.bicep: tables %v, the store uses %v", got, want)
	}
}

// parseTimeSpan reads the host.json TimeSpan forms holdfast uses:
// [d.]hh:mm:ss[.fff].
func parseTimeSpan(s string) (time.Duration, error) {
	var days int
	rest := s
	if i := strings.IndexByte(rest, '.'); i >= 0 && i < strings.IndexByte(rest, ':') {
		d, err := strconv.Atoi(rest[:i])
		if err != nil {
			return 0, fmt.Errorf("timespan %q: bad days", s)
		}
		days, rest = d, rest[i+1:]
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 3 {
		return 0, fmt.Errorf("timespan %q: want hh:mm:ss", s)
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec >= 60 {
		return 0, fmt.Errorf("timespan %q: bad hh:mm:ss", s)
	}
	return time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(sec*float64(time.Second)), nil
}

func (c *checker) checkHostJSON() {
	var h struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
		ExtensionBundle struct {
			ID      string `json:"id"`
			Version string `json:"version"`
		} `json:"extensionBundle"`
		FunctionTimeout string `json:"functionTimeout"`
		Extensions      struct {
			ServiceBus struct {
				AutoCompleteMessages       *bool  `json:"autoCompleteMessages"`
				MaxAutoLockRenewalDuration string `json:"maxAutoLockRenewalDuration"`
			} `json:"serviceBus"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal([]byte(c.read(filepath.Join(c.l.Root, "host.json"))), &h); err != nil {
		c.addf("host.json: %v", err)
		return
	}
	if h.ExtensionBundle.ID != "Microsoft.Azure.Functions.ExtensionBundle" || h.ExtensionBundle.Version != "[4.*, 5.0.0)" {
		c.addf("host.json: extension bundle %s %q, want Microsoft.Azure.Functions.ExtensionBundle \"[4.*, 5.0.0)\" (Flex needs 4.x)", h.ExtensionBundle.ID, h.ExtensionBundle.Version)
	}
	if h.Extensions.ServiceBus.AutoCompleteMessages == nil || !*h.Extensions.ServiceBus.AutoCompleteMessages {
		c.addf("host.json: extensions.serviceBus.autoCompleteMessages must be true (a custom handler cannot settle messages)")
	}
	timeout, err := parseTimeSpan(h.FunctionTimeout)
	if err != nil || timeout <= 0 {
		c.addf("host.json: functionTimeout %q: %v", h.FunctionTimeout, err)
	}
	if renew, err := parseTimeSpan(h.Extensions.ServiceBus.MaxAutoLockRenewalDuration); err != nil {
		c.addf("host.json: serviceBus.maxAutoLockRenewalDuration: %v", err)
	} else if timeout > 0 && renew < timeout {
		c.addf("host.json: maxAutoLockRenewalDuration %s is shorter than functionTimeout %s: a lock could expire mid-invocation", renew, timeout)
	}
	if h.CustomHandler.Description.DefaultExecutablePath == "" {
		c.addf("host.json: customHandler.description.defaultExecutablePath is empty")
	}
}

// checkPackaging: the binary make package builds is the one host.json
// starts, and azure.yaml deploys that folder.
func (c *checker) checkPackaging() {
	var h struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	_ = json.Unmarshal([]byte(c.read(filepath.Join(c.l.Root, "host.json"))), &h)
	exe := h.CustomHandler.Description.DefaultExecutablePath
	if mk := c.read(filepath.Join(c.l.Root, "Makefile")); exe != "" && !strings.Contains(mk, "-o dist/"+exe+" ") {
		c.addf("Makefile: make package does not build dist/%s, the executable host.json starts", exe)
	}
	az := c.read(filepath.Join(c.l.Root, "azure.yaml"))
	for _, want := range []string{"holdfast:", "host: function", "language: custom", "dist: dist", "make package"} {
		if !strings.Contains(az, want) {
			c.addf("azure.yaml: missing %q", want)
		}
	}
}

// checkScopes: the code asks for no token scope beyond the two documented
// in docs/permissions.md.
func (c *checker) checkScopes() {
	allowed := map[string]bool{}
	for _, s := range allowedScopes {
		allowed[s] = true
	}
	for _, dir := range []string{"shared", "functions"} {
		err := filepath.WalkDir(filepath.Join(c.l.Root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			for _, m := range scopeRE.FindAllStringSubmatch(c.read(p), -1) {
				if !allowed[m[1]] {
					rel, _ := filepath.Rel(c.l.Root, p)
					c.addf("%s: requests token scope %s, not in docs/permissions.md", rel, m[1])
				}
			}
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			c.addf("walk %s: %v", dir, err)
		}
	}
}

func TestConsistency(t *testing.T) {
	for _, p := range check(repoLayout(t), config.Settings()) {
		t.Error(p)
	}
}

// copyLayout copies what the checker reads into a temporary directory, so a
// test can break one thing and watch the checker notice.
func copyLayout(t *testing.T, src layout) layout {
	t.Helper()
	dst := t.TempDir()
	copyFile := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"host.json", "local.settings.sample.json", "azure.yaml", "Makefile"} {
		copyFile(filepath.Join(src.Root, f), filepath.Join(dst, f))
	}
	fns, _ := filepath.Glob(filepath.Join(src.Root, "functions", "*", "function.json"))
	for _, f := range fns {
		rel, _ := filepath.Rel(src.Root, f)
		copyFile(f, filepath.Join(dst, rel))
	}
	err := filepath.WalkDir(src.Infra, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(p, ".bicep") || strings.HasSuffix(p, ".json") {
			rel, _ := filepath.Rel(src.Infra, p)
			copyFile(p, filepath.Join(dst, "infra", rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return layout{Root: dst, Infra: filepath.Join(dst, "infra")}
}

// edit rewrites one file of l: the edit must change it, or the test is not
// testing anything.
func edit(t *testing.T, path string, f func(string) string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := f(string(b))
	if out == string(b) {
		t.Fatalf("edit of %s changed nothing", path)
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

func dropLine(containing string) func(string) string {
	return func(s string) string {
		var keep []string
		for _, ln := range strings.Split(s, "\n") {
			if !strings.Contains(ln, containing) {
				keep = append(keep, ln)
			}
		}
		return strings.Join(keep, "\n")
	}
}

func replace(old, new string) func(string) string {
	return func(s string) string { return strings.Replace(s, old, new, 1) }
}

// TestCheckerCatchesDrift breaks a copy of the repository one way at a time
// and asserts the checker reports it. This is the proof that TestConsistency
// can fail.
func TestCheckerCatchesDrift(t *testing.T) {
	repo := repoLayout(t)
	baseline := map[string]bool{}
	for _, p := range check(copyLayout(t, repo), config.Settings()) {
		baseline[p] = true
	}

	tests := []struct {
		name string
		file string // relative to the copy's root
		edit func(string) string
		want string // substring of a problem the baseline does not have
	}{
		{"setting removed from Bicep", "infra/main.bicep", dropLine("name: 'HOLDFAST_LOG_LEVEL'"),
			"HOLDFAST_LOG_LEVEL is read by the binary but not set in the app settings"},
		{"identity-based Service Bus setting removed", "infra/main.bicep", dropLine("name: 'ServiceBusConnection__fullyQualifiedNamespace'"),
			"needs ServiceBusConnection__fullyQualifiedNamespace in main.bicep"},
		{"host-provided port set in Bicep", "infra/main.bicep",
			replace("  // END app settings", "  { name: 'FUNCTIONS_CUSTOMHANDLER_PORT', value: '1234' }\n  // END app settings"),
			"FUNCTIONS_CUSTOMHANDLER_PORT must not be an app setting"},
		{"connection string deployed", "infra/main.bicep",
			replace("  // END app settings", "  { name: 'ServiceBusConnection', value: 'Endpoint=sb://x' }\n  // END app settings"),
			"ServiceBusConnection must not be an app setting"},
		{"misspelt setting", "infra/main.bicep", replace("'HOLDFAST_LOG_LEVEL'", "'HOLDFAST_LOG_LEVLE'"),
			"HOLDFAST_LOG_LEVLE is neither read by the binary"},
		{"line breaks the convention", "infra/main.bicep", replace("{ name: 'HOLDFAST_MODE', value: 'azure' }", "{\n name: 'HOLDFAST_MODE'\n value: 'azure'\n }"),
			"does not follow"},
		{"block markers gone", "infra/main.bicep", replace("// BEGIN app settings", "// app settings"),
			"no `// BEGIN app settings`"},
		{"parameter default drifts", "infra/main.bicep", replace("param rescueMargin string = '72h'", "param rescueMargin string = '48h'"),
			`HOLDFAST_RESCUE_MARGIN defaults to "48h"`},
		{"literal default drifts", "infra/main.bicep", replace("{ name: 'HOLDFAST_MODE', value: 'azure' }", "{ name: 'HOLDFAST_MODE', value: 'local' }"),
			`HOLDFAST_MODE defaults to "local"`},
		{"azd parameter default drifts", "infra/main.parameters.json", replace("HOLDFAST_WARN_THRESHOLDS=14d,7d,3d,1d", "HOLDFAST_WARN_THRESHOLDS=7d"),
			`defaults HOLDFAST_WARN_THRESHOLDS to "7d"`},
		{"queue renamed in Bicep", "infra/modules/servicebus.bicep", replace("'directory-events']", "'directory-event']"),
			`queue "directory-events" is not created`},
		{"topic renamed in Bicep", "infra/modules/servicebus.bicep", replace("var alertsTopicName = 'alerts'", "var alertsTopicName = 'alert'"),
			`alerts topic "alert"`},
		{"table missing", "infra/modules/storage.bicep", replace(", 'holdfastrejected'", ""),
			"modules/storage.bicep: tables"},
		{"binding references an unknown setting", "functions/ExpirySweep/function.json", replace("%HOLDFAST_SWEEP_SCHEDULE%", "%HOLDFAST_SWEEP_CRON%"),
			"%HOLDFAST_SWEEP_CRON%, which shared/config Settings() does not list"},
		{"setting undocumented in the sample", "local.settings.sample.json", dropLine(`"HOLDFAST_RESCUE_MODE"`),
			"HOLDFAST_RESCUE_MODE is read by the binary (shared/config Settings()) but not documented"},
		{"extension bundle changed", "host.json", replace("[4.*, 5.0.0)", "[3.*, 4.0.0)"),
			"extension bundle"},
		{"autoComplete turned off", "host.json", replace(`"autoCompleteMessages": true`, `"autoCompleteMessages": false`),
			"autoCompleteMessages must be true"},
		{"functionTimeout unparseable", "host.json", replace(`"functionTimeout": "00:10:00"`, `"functionTimeout": "10m"`),
			"functionTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := copyLayout(t, repo)
			edit(t, filepath.Join(l.Root, filepath.FromSlash(tt.file)), tt.edit)
			var found []string
			for _, p := range check(l, config.Settings()) {
				if !baseline[p] && strings.Contains(p, tt.want) {
					found = append(found, p)
				}
			}
			if len(found) == 0 {
				t.Errorf("checker did not report %q after the edit", tt.want)
			}
		})
	}
}

// A setting added to the code only must be reported in both places.
func TestCheckerCatchesNewSetting(t *testing.T) {
	l := copyLayout(t, repoLayout(t))
	settings := append(config.Settings(), config.Setting{Name: "HOLDFAST_NEW_KNOB", Default: "x"})
	var bicep, sample bool
	for _, p := range check(l, settings) {
		bicep = bicep || strings.Contains(p, "HOLDFAST_NEW_KNOB is read by the binary but not set in the app settings")
		sample = sample || strings.Contains(p, "HOLDFAST_NEW_KNOB is read by the binary (shared/config Settings()) but not documented")
	}
	if !bicep || !sample {
		t.Errorf("new setting: reported missing from Bicep=%v, from the sample=%v; want both", bicep, sample)
	}
}

func TestParseTimeSpan(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"00:10:00", 10 * time.Minute, true},
		{"00:00:00.80", 800 * time.Millisecond, true},
		{"1.02:00:00", 26 * time.Hour, true},
		{"10m", 0, false},
		{"25:00:00", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := parseTimeSpan(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseTimeSpan(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
