package main

import (
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// cliCredential is the credential for commands run by a person (publish,
// reconcile): their Azure CLI login or environment, never a secret in a
// flag. The deployed app uses its managed identity instead.
func cliCredential(needed bool) (azcore.TokenCredential, error) {
	if !needed {
		return nil, nil
	}
	return azidentity.NewDefaultAzureCredential(nil)
}
