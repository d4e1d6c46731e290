package localstack

import (
	"fmt"
	"net"

	"github.com/holdfast/holdfast/shared/testbed/host"
)

// ServeAPI serves APIHandler on addr, which must be a loopback address
// (local mode has no keys: nothing else may reach it). It returns the
// base URL of the Api.
func (s *Stack) ServeAPI(addr string) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("the local stack serves the Api on loopback only, not %q", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	s.servers = append(s.servers, serve(l, s.APIHandler()))
	return "http://" + l.Addr().String() + APIPrefix, nil
}

// APIPrefix is where the Functions host serves the Api function.
const APIPrefix = host.APIPrefix
