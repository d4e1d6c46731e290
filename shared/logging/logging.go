// Package logging builds holdfast's zerolog logger: JSON lines on stdout
// (the Functions host forwards stdout to Application Insights) with secret
// values scrubbed before they reach any sink.
package logging

import (
	"bytes"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/rs/zerolog"
)

// New returns a JSON logger writing to w at the given level ("info" when
// unknown). Every value in secrets, and anything that looks like a
// credential, is replaced with [redacted] before it is written.
func New(w io.Writer, level string, secrets []string) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(NewRedactor(w, secrets)).Level(lvl).With().Timestamp().Str("app", "holdfast").Logger()
}

// credentialPatterns catch secrets that were never configured as settings:
// storage and Service Bus keys in connection strings, SAS signatures, bearer
// tokens and the signature of Teams/Workflows webhook URLs.
var credentialPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)(AccountKey|SharedAccessKey|SharedAccessSignature)=[^;"\s]+`),
	regexp.MustCompile(`(?i)([?&](sig|code|signature)=)[^&"\s]+`),
	regexp.MustCompile(`(?i)(bearer\s+)[A-Za-z0-9\-_.~+/]+=*`),
}

// Redactor is an io.Writer that scrubs secrets from each write. zerolog
// writes one whole JSON line per Write call, so a secret never straddles
// two writes.
type Redactor struct {
	mu      sync.Mutex
	w       io.Writer
	secrets [][]byte
}

// NewRedactor wraps w. Secrets shorter than 6 characters are ignored: they
// would redact ordinary words and are not credentials anyway.
func NewRedactor(w io.Writer, secrets []string) *Redactor {
	r := &Redactor{w: w}
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for _, s := range secrets {
		if s = strings.TrimSpace(s); len(s) >= 6 {
			r.secrets = append(r.secrets, []byte(s))
			// Also catch the JSON-escaped form zerolog would write.
			if esc := jsonEscape(s); esc != s {
				r.secrets = append(r.secrets, []byte(esc))
			}
		}
	}
	return r
}

func jsonEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '&':
			b.WriteString(`\u0026`)
		case '<':
			b.WriteString(`\u003c`)
		case '>':
			b.WriteString(`\u003e`)
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// Write scrubs p and writes it. It reports len(p) on success so callers do
// not mistake the shorter output for a short write.
func (r *Redactor) Write(p []byte) (int, error) {
	out := p
	for _, s := range r.secrets {
		if bytes.Contains(out, s) {
			out = bytes.ReplaceAll(out, s, []byte("[redacted]"))
		}
	}
	for _, re := range credentialPatterns {
		out = re.ReplaceAll(out, []byte("${1}[redacted]"))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
