// Package infra holds holdfast's infrastructure as code (Bicep in main.bicep
// and modules/, the permission and Graph-notification scripts) and the
// consistency test that keeps it in step with the code: every app setting
// the binary reads, every binding in functions/*/function.json, the queue,
// topic and table names. The package has no Go API of its own.
package infra
