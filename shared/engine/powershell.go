package engine

// psQuote (restore.go) writes the single-quoted literals below.

// undoCommand is the exact PowerShell an admin runs when holdfast cannot
// send Undo-SoftDeletedMailbox's -Password itself (Microsoft's documented
// form, with the password typed at a prompt).
func undoCommand(softDeletedObject, upn string) string {
	return "Undo-SoftDeletedMailbox -SoftDeletedObject " + psQuote(softDeletedObject) + " -WindowsLiveID " + psQuote(upn) +
		" -Password (Read-Host 'New password' -AsSecureString)"
}

// newInactiveMailboxCommand is the exact PowerShell for New-Mailbox
// -InactiveMailbox (Learn: recover an inactive mailbox).
func newInactiveMailboxCommand(inactive, name, upn string) string {
	return "New-Mailbox -InactiveMailbox " + psQuote(inactive) + " -Name " + psQuote(name) + " -MicrosoftOnlineServicesID " + psQuote(upn) +
		" -Password (Read-Host 'Password' -AsSecureString) -ResetPasswordOnNextLogon $true"
}

// noKeyWhy explains a needsPowerShell blocker.
const noKeyWhy = "takes a -Password (a SecureString), and no public key to encrypt it is configured (HOLDFAST_EXO_SECURESTRING_KEY, see docs/contracts.md)"
