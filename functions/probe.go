package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/holdfast/holdfast/shared/exo"
	"github.com/holdfast/holdfast/shared/graph"
	"github.com/holdfast/holdfast/shared/probe"
)

// tenantReader gives the probe its two reads and nothing else: the
// clients' write methods are not reachable through it.
type tenantReader struct {
	graph *graph.Client
	exo   *exo.Client
}

func (t tenantReader) GraphGet(ctx context.Context, path string, q url.Values) (probe.Answer, error) {
	a, err := t.graph.ReadRaw(ctx, path, q)
	return probe.Answer{Status: a.Status, Header: a.Header, Body: a.Body}, err
}

func (t tenantReader) ExchangeGet(ctx context.Context, cmdlet string, params map[string]any, sel []string) (probe.Answer, error) {
	a, err := t.exo.ReadRaw(ctx, cmdlet, params, sel)
	return probe.Answer{Status: a.Status, Header: a.Header, Body: a.Body}, err
}

// newTenantReader builds the read-only clients for the probe.
func newTenantReader(graphURL, exchangeURL, tenantID string, cred azcore.TokenCredential) (tenantReader, error) {
	g, err := graph.New(graph.Options{BaseURL: graphURL, Credential: cred})
	if err != nil {
		return tenantReader{}, err
	}
	x, err := exo.New(exo.Options{BaseURL: exchangeURL, TenantID: tenantID, Credential: cred})
	if err != nil {
		return tenantReader{}, err
	}
	return tenantReader{graph: g, exo: x}, nil
}

// probeCredential is the admin's own sign-in, chosen by --auth.
// clientID, for device-code, is an app registration of the tenant with
// the delegated read permissions (empty: azidentity's default public client).
func probeCredential(auth, tenantID, clientID string) (azcore.TokenCredential, error) {
	switch auth {
	case "device-code":
		return azidentity.NewDeviceCodeCredential(&azidentity.DeviceCodeCredentialOptions{TenantID: tenantID, ClientID: clientID})
	case "azure-cli":
		return azidentity.NewAzureCLICredential(&azidentity.AzureCLICredentialOptions{TenantID: tenantID})
	case "managed-identity":
		opts := &azidentity.ManagedIdentityCredentialOptions{}
		if id := os.Getenv("AZURE_CLIENT_ID"); id != "" {
			opts.ID = azidentity.ClientID(id)
		}
		return azidentity.NewManagedIdentityCredential(opts)
	case "none":
		return nil, nil // loopback only: the simulator
	}
	return nil, fmt.Errorf("--auth %q: want device-code, azure-cli, managed-identity or none (simulator)", auth)
}

// probeCmd runs the read-only probe and writes PREFIX.json and PREFIX.txt.
func probeCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	tenantID := fs.String("tenant", os.Getenv("HOLDFAST_TENANT_ID"), "tenant id (GUID) or its onmicrosoft.com domain")
	auth := fs.String("auth", "device-code", "sign-in: device-code, azure-cli, managed-identity, or none (simulator on loopback)")
	graphURL := fs.String("graph-url", graph.DefaultBaseURL, "Microsoft Graph base URL")
	exchangeURL := fs.String("exchange-url", exo.DefaultBaseURL, "Exchange Online base URL")
	clientID := fs.String("client-id", "", "device-code: client id of the tenant's app registration with the delegated read permissions (docs/permissions.md)")
	out := fs.String("out", "holdfast-probe", "report path prefix: writes PREFIX.json and PREFIX.txt")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tenantID == "" {
		return errors.New("probe: --tenant is required")
	}
	cred, err := probeCredential(*auth, *tenantID, *clientID)
	if err != nil {
		return err
	}
	r, err := newTenantReader(*graphURL, *exchangeURL, *tenantID, cred)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	rep := probe.Run(ctx, r, probe.Options{})
	return writeProbeReport(rep, *out)
}

func writeProbeReport(rep probe.Report, prefix string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if dir := filepath.Dir(prefix); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(prefix+".json", append(b, '\n'), 0o644); err != nil {
		return err
	}
	text := rep.Text()
	if err := os.WriteFile(prefix+".txt", []byte(text), 0o644); err != nil {
		return err
	}
	fmt.Print(text)
	fmt.Printf("\nreport written to %s.json and %s.txt\n", prefix, prefix)
	if d := rep.Differing(); len(d) > 0 {
		fmt.Printf("rows that differ from the contracts: %s\n", strings.Join(d, ", "))
	}
	return nil
}
