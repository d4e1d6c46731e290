package azurite

import (
	"context"
	"testing"
)

// ForTest starts an Azurite table service for t and stops it when t ends.
// A missing Azurite fails the test (it does not skip): storage tests that
// silently skip would pass without testing anything.
func ForTest(t testing.TB) *Instance {
	t.Helper()
	in, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatalf("azurite: %v", err)
	}
	t.Cleanup(func() {
		if err := in.Stop(); err != nil {
			t.Errorf("azurite stop: %v", err)
		}
	})
	return in
}
