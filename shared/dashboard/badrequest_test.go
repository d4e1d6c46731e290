package dashboard

import (
	"errors"
	"fmt"
	"testing"

	"github.com/holdfast/holdfast/shared/engine"
)

// TestIsBadRequest: the engine's refusal is recognised through wrapping
// by its type, never by the words of a message.
func TestIsBadRequest(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"the engine's refusal, wrapped", fmt.Errorf("release u@x: case is purged: %w", engine.ErrBadRequest), true},
		{"the engine's refusal", engine.ErrBadRequest, true},
		{"a failure that merely says the words", errors.New("upstream said bad request"), false},
		{"another failure", errors.New("Exchange: 503"), false},
	}
	for _, tt := range tests {
		if got := isBadRequest(tt.err); got != tt.want {
			t.Errorf("%s: isBadRequest = %v, want %v", tt.name, got, tt.want)
		}
	}
	if !errors.Is(fmt.Errorf("x: %w", engine.ErrBadRequest), engine.ErrBadRequest) {
		t.Fatal("errors.Is no longer matches the engine's sentinel")
	}
}
