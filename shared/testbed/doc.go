// Package testbed is the test bed's wing: the tenant simulator (sim), the
// Azurite launcher (azurite), the Functions host emulator (host), the local
// stack (localstack), scenarios and their runner (scenario,
// scenario/runner), chaos and crash injection (chaos) and the benchmarks
// (bench), the engine's light harness (enginebed) and the Directory port's
// in-process twin and conformance suite (sim/simdirectory, directorytest).
// Nothing that ships imports it, except the CLI's developer
// commands (holdfast sim, scenario, dev, bench, chaos); wing_test.go
// enforces that.
package testbed
