<#
.SYNOPSIS
  Gives holdfast's managed identity the Exchange Online RBAC it needs:
  Litigation Hold, mailbox restore/recovery requests, and Mail.Send for the
  alert mailbox only. Run after infra/grant-permissions.sh (which grants
  Exchange.ManageAsApp in Entra), in PowerShell 7 with the
  ExchangeOnlineManagement module, connected as an Exchange administrator.

.DESCRIPTION
  1. New-ServicePrincipal: makes the managed identity known to Exchange RBAC.
  2. Prints, for every cmdlet and parameter holdfast sends, the management
     roles that contain it (Get-ManagementRole -Cmdlet -CmdletParameters), so
     the role list below can be checked against your tenant.
  3. New-RoleGroup "holdfast" with those roles; Add-RoleGroupMember adds the
     identity. Then verifies that every cmdlet/parameter is covered by a role
     in the group and stops with the candidate roles if one is not.
  4. Mail.Send through RBAC for Applications, scoped by a management scope to
     the alert mailbox (no tenant-wide Mail.Send in Entra).

  Which roles are required for Set-Mailbox -LitigationHoldEnabled and the
  *-MailboxRestoreRequest cmdlets is UNCONFIRMED in the documentation we
  could read (docs/permissions.md); step 3's check is the authority. If it
  fails and you need holdfast running now, the documented fallback is the
  Entra role "Exchange Administrator" for the identity, which is far broader.

.EXAMPLE
  Connect-ExchangeOnline
  ./infra/exchange-permissions.ps1 -AppId <client id> -ObjectId <principal id> -AlertMailbox alerts@contoso.com
#>
[CmdletBinding(SupportsShouldProcess)]
param(
  [Parameter(Mandatory)][ValidatePattern('^[0-9a-fA-F-]{36}$')][string]$AppId,
  [Parameter(Mandatory)][ValidatePattern('^[0-9a-fA-F-]{36}$')][string]$ObjectId,
  # The mailbox HOLDFAST_ALERT_MAIL_FROM names; empty to skip Mail.Send.
  [ValidatePattern('^$|^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$')][string]$AlertMailbox = '',
  [string]$RoleGroupName = 'holdfast',
  # Expected to cover the cmdlets below; the check after creation decides.
  [string[]]$Roles = @('Legal Hold', 'Mail Recipients', 'Mail Recipient Creation', 'Mailbox Import Export')
)
$ErrorActionPreference = 'Stop'

# Every cmdlet and parameter shared/exo sends (keep in step with it).
$needs = @(
  @{ Cmdlet = 'Get-Mailbox'; Params = @('Identity', 'ResultSize', 'SoftDeletedMailbox', 'InactiveMailboxOnly', 'IncludeInactiveMailbox') },
  @{ Cmdlet = 'Set-Mailbox'; Params = @('Identity', 'LitigationHoldEnabled', 'LitigationHoldDuration', 'RetentionComment', 'InactiveMailbox') },
  @{ Cmdlet = 'New-MailboxRestoreRequest'; Params = @('Name', 'SourceMailbox', 'TargetMailbox', 'TargetRootFolder', 'SourceIsArchive', 'TargetIsArchive', 'AllowLegacyDNMismatch') },
  @{ Cmdlet = 'Get-MailboxRestoreRequest'; Params = @('Name', 'ResultSize') },
  @{ Cmdlet = 'Get-MailboxRestoreRequestStatistics'; Params = @('Identity') },
  @{ Cmdlet = 'Undo-SoftDeletedMailbox'; Params = @('SoftDeletedObject') },
  @{ Cmdlet = 'New-Mailbox'; Params = @('InactiveMailbox', 'Name', 'MicrosoftOnlineServicesID') }
)

# 1. Register the identity with Exchange.
$sp = Get-ServicePrincipal -Identity $ObjectId -ErrorAction SilentlyContinue
if (-not $sp) {
  if ($PSCmdlet.ShouldProcess($ObjectId, 'New-ServicePrincipal')) {
    $sp = New-ServicePrincipal -AppId $AppId -ObjectId $ObjectId -DisplayName 'holdfast'
  }
}

# 2. Which roles contain what holdfast runs.
Write-Host 'Roles containing each cmdlet with the parameters holdfast uses:'
foreach ($n in $needs) {
  $names = (Get-ManagementRole -Cmdlet $n.Cmdlet -CmdletParameters $n.Params | Select-Object -ExpandProperty Name) -join ', '
  Write-Host ("  {0,-38} {1}" -f $n.Cmdlet, $names)
}

# 3. The role group.
if (-not (Get-RoleGroup -Identity $RoleGroupName -ErrorAction SilentlyContinue)) {
  if ($PSCmdlet.ShouldProcess($RoleGroupName, "New-RoleGroup with $($Roles -join ', ')")) {
    New-RoleGroup -Name $RoleGroupName -Roles $Roles -Description 'holdfast: Litigation Hold and mailbox restores (managed identity)' | Out-Null
  }
}
$members = Get-RoleGroupMember -Identity $RoleGroupName | Select-Object -ExpandProperty ExternalDirectoryObjectId
if ($members -notcontains $ObjectId) {
  if ($PSCmdlet.ShouldProcess($RoleGroupName, "Add-RoleGroupMember $ObjectId")) {
    Add-RoleGroupMember -Identity $RoleGroupName -Member $ObjectId
  }
}
$groupRoles = (Get-RoleGroup -Identity $RoleGroupName).Roles | ForEach-Object { (Get-ManagementRole -Identity $_).Name }
$missing = @()
foreach ($n in $needs) {
  $candidates = Get-ManagementRole -Cmdlet $n.Cmdlet -CmdletParameters $n.Params | Select-Object -ExpandProperty Name
  if (-not ($candidates | Where-Object { $groupRoles -contains $_ })) {
    $missing += "$($n.Cmdlet) ($($n.Params -join ', ')): add one of: $($candidates -join ', ')"
  }
}
if ($missing) {
  throw "Role group '$RoleGroupName' does not cover:`n  " + ($missing -join "`n  ")
}
Write-Host "Role group '$RoleGroupName' covers every cmdlet holdfast runs."

# 4. Mail.Send for the alert mailbox only (RBAC for Applications).
if ($AlertMailbox) {
  $scopeName = 'holdfast-alert-mailbox'
  if (-not (Get-ManagementScope -Identity $scopeName -ErrorAction SilentlyContinue)) {
    $mbx = Get-Mailbox -Identity $AlertMailbox
    # Filter on the mailbox's immutable ExchangeGuid, not on text typed here.
    New-ManagementScope -Name $scopeName -RecipientRestrictionFilter "ExchangeGuid -eq '$($mbx.ExchangeGuid)'" | Out-Null
  }
  if (-not (Get-ManagementRoleAssignment -Role 'Application Mail.Send' -ErrorAction SilentlyContinue | Where-Object { $_.App -eq $ObjectId -or $_.RoleAssigneeName -eq $sp.Identity })) {
    New-ManagementRoleAssignment -Role 'Application Mail.Send' -App $ObjectId -CustomResourceScope $scopeName | Out-Null
  }
  Write-Host "Mail.Send granted for $AlertMailbox only. Check: Test-ServicePrincipalAuthorization -Identity $ObjectId -Resource $AlertMailbox"
}
