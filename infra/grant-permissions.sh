#!/usr/bin/env bash
# Grants holdfast's managed identity the Microsoft Graph and Exchange Online
# application permissions it needs, and nothing more (docs/permissions.md says
# which call needs each one). Run after `azd provision` / the Bicep deployment,
# by someone who can grant app roles (Privileged Role Administrator or Global
# Administrator: app role assignments are admin consent).
#
#   infra/grant-permissions.sh [--principal-id ID] [--mail-send-entra] [--dry-run]
#
# The principal id defaults to MANAGED_IDENTITY_PRINCIPAL_ID from the azd
# environment (azd env get-values). Idempotent: existing assignments are kept.
#
# Mail.Send is NOT granted in Entra by default: grant it in Exchange with RBAC
# for Applications, scoped to the alert mailbox (infra/exchange-permissions.ps1).
# --mail-send-entra grants the Entra permission instead, for the older
# application-access-policy route; then scope it with New-ApplicationAccessPolicy
# (docs/permissions.md), or the identity can send as ANY mailbox.
set -euo pipefail

GRAPH_APP_ID=00000003-0000-0000-c000-000000000000     # Microsoft Graph
EXCHANGE_APP_ID=00000002-0000-0ff1-ce00-000000000000  # Office 365 Exchange Online

# The Graph application permissions (app roles). Keep in step with
# docs/permissions.md.
GRAPH_ROLES=(User.Read.All User.ReadWrite.All LicenseAssignment.ReadWrite.All LicenseAssignment.Read.All)
EXCHANGE_ROLES=(Exchange.ManageAsApp)

principal=""
mail_send_entra=false
dry_run=false
while [ $# -gt 0 ]; do
  case "$1" in
    --principal-id) principal="$2"; shift 2 ;;
    --mail-send-entra) mail_send_entra=true; shift ;;
    --dry-run) dry_run=true; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

if [ -z "$principal" ] && command -v azd >/dev/null 2>&1; then
  principal=$(azd env get-value MANAGED_IDENTITY_PRINCIPAL_ID 2>/dev/null || true)
fi
if ! [[ "$principal" =~ ^[0-9a-fA-F-]{36}$ ]]; then
  echo "need the managed identity's principal (object) id: --principal-id ID or azd env MANAGED_IDENTITY_PRINCIPAL_ID" >&2
  exit 2
fi
$mail_send_entra && GRAPH_ROLES+=(Mail.Send)

run() {
  if $dry_run; then printf 'would run:'; printf ' %q' "$@"; echo; else "$@"; fi
}

# grant RESOURCE_APP_ID ROLE...: assigns each app role of the resource's
# service principal to the managed identity, looking role ids up by value
# (no hard-coded GUIDs).
grant() {
  local app_id="$1"; shift
  local resource_id
  resource_id=$(az ad sp show --id "$app_id" --query id -o tsv)
  local existing
  existing=$(az rest --method GET \
    --url "https://graph.microsoft.com/v1.0/servicePrincipals/${principal}/appRoleAssignments" \
    --query "value[?resourceId=='${resource_id}'].appRoleId" -o tsv)
  local role role_id
  for role in "$@"; do
    role_id=$(az ad sp show --id "$app_id" \
      --query "appRoles[?value=='${role}' && contains(allowedMemberTypes, 'Application')].id | [0]" -o tsv)
    if [ -z "$role_id" ]; then
      echo "error: $role is not an application permission of $app_id" >&2
      exit 1
    fi
    if grep -qx "$role_id" <<<"$existing"; then
      echo "ok       $role (already granted)"
      continue
    fi
    run az rest --method POST \
      --url "https://graph.microsoft.com/v1.0/servicePrincipals/${principal}/appRoleAssignments" \
      --headers "Content-Type=application/json" \
      --body "{\"principalId\":\"${principal}\",\"resourceId\":\"${resource_id}\",\"appRoleId\":\"${role_id}\"}" \
      --output none
    echo "granted  $role"
  done
}

echo "Microsoft Graph:"
grant "$GRAPH_APP_ID" "${GRAPH_ROLES[@]}"
echo "Office 365 Exchange Online:"
grant "$EXCHANGE_APP_ID" "${EXCHANGE_ROLES[@]}"

app_id=$(az ad sp show --id "$principal" --query appId -o tsv)
cat <<MSG

Next, in Exchange Online PowerShell (ExchangeOnlineManagement module), as an
Exchange administrator:

  pwsh infra/exchange-permissions.ps1 -AppId ${app_id} -ObjectId ${principal} -AlertMailbox <alerts@contoso.com>

It registers the identity in Exchange (New-ServicePrincipal), creates the
"holdfast" role group with the roles for Litigation Hold and mailbox restores
and adds the identity to it (Add-RoleGroupMember), and grants Mail.Send for the
alert mailbox only (RBAC for Applications). Tokens already issued keep their
old roles for up to 24 hours; restart the Function App after granting.
MSG
