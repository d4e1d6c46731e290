package sim

import "testing"

func TestGraphErrorShape(t *testing.T) {
	e := newEnv(t, seed("ann@contoso.test", 1))
	tests := []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"GET", "/users/nobody@contoso.test", nil, 404, "Request_ResourceNotFound"},
		{"GET", "/users/ann@contoso.test?$select=id,shoeSize", nil, 400, "Request_BadRequest"},
		{"GET", "/directory/deletedItems/0b7e7b5e-0000-4000-8000-000000000000", nil, 404, "Request_ResourceNotFound"},
		{"POST", "/directory/deletedItems/0b7e7b5e-0000-4000-8000-000000000000/restore", nil, 404, "Request_ResourceNotFound"},
		{"GET", "/groups", nil, 400, "BadRequest"},
		{"PUT", "/users/ann@contoso.test", map[string]any{}, 405, "Request_BadRequest"},
		{"PATCH", "/users/ann@contoso.test", map[string]any{"accountEnabled": "yes"}, 400, "Request_BadRequest"},
		{"GET", "/users?$top=1000", nil, 400, "Request_UnsupportedQuery"},
		{"POST", "/users/ann@contoso.test/assignLicense", map[string]any{"addLicenses": []any{}}, 400, "Request_BadRequest"},
		{"POST", "/users/ann@contoso.test/assignLicense", map[string]any{"addLicenses": []any{}, "removeLicenses": []any{"4b9405b0-7788-4568-add1-99614e613b69"}}, 400, "Request_BadRequest"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			st, out, hdr := e.do(tc.method, "/v1.0"+tc.path, tc.body, "client-request-id", "c0ffee00-0000-4000-8000-000000000000")
			if st != tc.status {
				t.Fatalf("status %d, want %d: %v", st, tc.status, out)
			}
			er, _ := out["error"].(map[string]any)
			if er["code"] != tc.code || er["message"] == "" {
				t.Fatalf("error %v, want code %s", out, tc.code)
			}
			ie, _ := er["innerError"].(map[string]any)
			if ie["request-id"] == nil || ie["client-request-id"] != "c0ffee00-0000-4000-8000-000000000000" || ie["date"] == nil {
				t.Fatalf("innerError %v", ie)
			}
			if hdr.Get("request-id") == "" {
				t.Fatal("no request-id header")
			}
		})
	}
}
