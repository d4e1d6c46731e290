package sim

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/holdfast/holdfast/shared/contract"
)

func TestExchangeErrorShape(t *testing.T) {
	e := newEnv(t, seed("ann@contoso.test", 1))
	tests := []struct {
		name   string
		cmdlet string
		params map[string]any
		status int
		class  string
		text   string
	}{
		{"unknown cmdlet", "Get-Nonsense", nil, 400, "CommandNotFoundException", "is not recognized"},
		{"unknown parameter", "Get-Mailbox", map[string]any{"Frobnicate": true}, 400, "ParameterBindingException", "A parameter cannot be found that matches parameter name 'Frobnicate'."},
		{"not found", "Get-Mailbox", map[string]any{"Identity": "nobody@contoso.test"}, 404, "ManagementObjectNotFoundException", "couldn't be found"},
		{"missing mandatory", "Set-Mailbox", map[string]any{"LitigationHoldEnabled": true}, 400, "ParameterBindingException", "missing mandatory parameters: Identity"},
		{"bad duration", "Set-Mailbox", map[string]any{"Identity": "ann@contoso.test", "LitigationHoldDuration": "forever"}, 400, "ParameterBindingException", "LitigationHoldDuration"},
		{"bad bool", "Set-Mailbox", map[string]any{"Identity": "ann@contoso.test", "LitigationHoldEnabled": "maybe"}, 400, "ParameterBindingException", "System.Boolean"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, out := e.cmd(tc.cmdlet, tc.params)
			if st != tc.status {
				t.Fatalf("status %d, want %d: %v", st, tc.status, out)
			}
			parts := strings.SplitN(detail(out), "|", 3)
			if len(parts) != 3 || !strings.HasPrefix(parts[0], "Ex") || !strings.HasSuffix(parts[1], tc.class) || !strings.Contains(parts[2], tc.text) {
				t.Fatalf("details message %q", detail(out))
			}
			// The captured shape (contract.ExoErrorBody): details[0].code is
			// "Context", not an ErrorCategory number.
			b, _ := json.Marshal(out)
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.DisallowUnknownFields()
			var body contract.ExoErrorBody
			if err := dec.Decode(&body); err != nil {
				t.Fatalf("error body does not fit contract.ExoErrorBody: %v", err)
			}
			if body.Error.Details[0].Code != "Context" || body.Error.Message != "Error executing cmdlet" ||
				body.Error.InnerError == nil || !strings.HasSuffix(body.Error.InnerError.Type, "ODataServiceException") {
				t.Fatalf("error %+v", body.Error)
			}
		})
	}
}
