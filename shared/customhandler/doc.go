// Package customhandler implements the Azure Functions (host v4) custom
// handler wire protocol, in both directions.
//
// The host starts the handler binary, passes a port in
// FUNCTIONS_CUSTOMHANDLER_PORT, polls GET / until anything answers, and then
// POSTs one JSON envelope {"Data": {...}, "Metadata": {...}} to
// /{FunctionName} per invocation. The handler answers with
// {"Outputs": {...}, "Logs": [...], "ReturnValue": ...} as application/json.
// A non-2xx answer fails the invocation and the host discards Outputs and
// Logs; for a Service Bus trigger the message is abandoned and redelivered
// with DeliveryCount+1 until Service Bus dead-letters it.
//
// Decoding (Invocation, Server) is what the handler uses. Encoding
// (EncodeServiceBus, EncodeTimer, EncodeHTTP, Client) reproduces what the
// host sends, for holdfast's local runner and for tests, because the real
// host is not available there.
//
// Wire quirks handled here (see shared/reference/functions-custom-handler.md):
//
//   - Strings in Data (non-HTTP) and Metadata are JSON-encoded twice
//     ("\"abc\""). Single-encoded strings are tolerated.
//   - Integers arrive as strings ("1"); real JSON numbers are tolerated.
//   - DateTime values have no zone ("2023-10-12T20:13:49") and are read as
//     UTC; RFC 3339 with or without offset or fraction is also accepted.
//   - A Service Bus body that is a JSON object has its top-level properties
//     merged into Metadata by the host, so a body can shadow system metadata
//     such as MessageId or DeliveryCount. See ServiceBusMessage.ShadowedKeys
//     for the defence.
package customhandler
