#!/usr/bin/env bash
# Microsoft Graph user change notifications -> Event Grid partner topic ->
# Service Bus queue directory-events, in the CloudEvents 1.0 schema.
#
# The Graph subscription is holdfast's: its SubscriptionRenewal timer creates
# it with holdfast's managed identity and renews it (docs/operations.md). The
# operator does the Azure side once: authorize Microsoft Graph as a partner,
# give holdfast the partner topic to use, then activate the topic Graph
# creates and route it to the queue. Bicep cannot express this: the partner
# topic appears only when the Graph subscription is created.
#
#   infra/graph-notifications.sh setup   # once: partner authorization, settings, topic activation, event subscription
#   infra/graph-notifications.sh status  # holdfast's subscription health and the partner topic
#
# Reads from the environment, or from the azd environment when azd is present:
#   AZURE_RESOURCE_GROUP, AZURE_LOCATION, DIRECTORY_EVENTS_QUEUE_ID   (Bicep outputs)
#   PARTNER_TOPIC     partner topic name (default holdfast-graph-users)
#   AZURE_FUNCTION_APP_NAME the function app (Bicep output), to run SubscriptionRenewal at once
set -euo pipefail

GRAPH_PARTNER_NAME=MicrosoftGraphAPI
# Immutable id of the Microsoft Graph API partner registration, as used by
# public deployment scripts; `az eventgrid partner configuration authorize
# --partner-name MicrosoftGraphAPI` is the equivalent by name.
GRAPH_PARTNER_ID=c02e0126-707c-436d-b6a1-175d2748fb58
EVENT_SUBSCRIPTION=holdfast-directory-events

env_get() {
  local v="${!1:-}"
  if [ -z "$v" ] && command -v azd >/dev/null 2>&1; then
    v=$(azd env get-value "$1" 2>/dev/null || true)
  fi
  printf '%s' "$v"
}

RG=$(env_get AZURE_RESOURCE_GROUP)
LOCATION=$(env_get AZURE_LOCATION)
QUEUE_ID=$(env_get DIRECTORY_EVENTS_QUEUE_ID)
APP=$(env_get AZURE_FUNCTION_APP_NAME)
TOPIC=$(env_get PARTNER_TOPIC); TOPIC=${TOPIC:-holdfast-graph-users}
SUB_ID=$(az account show --query id -o tsv)

need() { [ -n "$2" ] || { echo "missing $1 (see the header of $0)" >&2; exit 2; }; }

setup() {
  need AZURE_RESOURCE_GROUP "$RG"; need AZURE_LOCATION "$LOCATION"; need DIRECTORY_EVENTS_QUEUE_ID "$QUEUE_ID"

  echo "1/6 Event Grid resource provider"
  az provider register --namespace Microsoft.EventGrid --wait

  echo "2/6 authorize Microsoft Graph to create partner topics in $RG"
  if ! az eventgrid partner configuration show -g "$RG" >/dev/null 2>&1; then
    az eventgrid partner configuration create -g "$RG" --default-maximum-expiration-time-in-days 365 --output none
  fi
  az eventgrid partner configuration authorize -g "$RG" \
    --partner-registration-immutable-id "$GRAPH_PARTNER_ID" --partner-name "$GRAPH_PARTNER_NAME" \
    --authorization-expiration-date "$(date -u -d '+365 days' +%Y-%m-%d)" --output none

  echo "3/6 give holdfast the partner topic and a clientState, then provision"
  local url="EventGrid:?azuresubscriptionid=${SUB_ID}&resourcegroup=${RG}&partnertopic=${TOPIC}&location=${LOCATION}"
  # The clientState is a shared secret holdfast gives Graph and checks on
  # every notification; keep an existing one.
  local state; state=$(env_get HOLDFAST_GRAPH_CLIENT_STATE); state=${state:-$(openssl rand -hex 16)}
  if command -v azd >/dev/null 2>&1; then
    azd env set HOLDFAST_GRAPH_NOTIFICATION_URL "$url" >/dev/null
    azd env set HOLDFAST_GRAPH_CLIENT_STATE "$state" >/dev/null
    azd provision --no-prompt
  else
    echo "    set the app settings HOLDFAST_GRAPH_NOTIFICATION_URL=$url and HOLDFAST_GRAPH_CLIENT_STATE (a random secret), then press enter"
    read -r _
  fi

  echo "4/6 holdfast creates its Graph subscription (SubscriptionRenewal); waiting for partner topic $TOPIC"
  if [ -n "$APP" ]; then
    # Run the timer function now rather than waiting for its schedule.
    local key; key=$(az functionapp keys list -g "$RG" -n "$APP" --query masterKey -o tsv 2>/dev/null || true)
    if [ -n "$key" ]; then
      curl -fsS -X POST "https://${APP}.azurewebsites.net/admin/functions/SubscriptionRenewal" \
        -H "x-functions-key: $key" -H 'Content-Type: application/json' -d '{"input":""}' >/dev/null || true
    fi
  fi
  for _ in $(seq 1 60); do
    az eventgrid partner topic show -g "$RG" -n "$TOPIC" >/dev/null 2>&1 && break
    sleep 30
  done
  az eventgrid partner topic show -g "$RG" -n "$TOPIC" >/dev/null 2>&1 || {
    echo "partner topic $TOPIC did not appear: check 'holdfast status' / GET /api/holdfast/health for the subscription error" >&2; exit 1; }
  az eventgrid partner topic activate -g "$RG" -n "$TOPIC" --output none

  echo "5/6 partner topic identity may send to directory-events (Service Bus has no SAS keys)"
  local topic_id; topic_id=$(az eventgrid partner topic show -g "$RG" -n "$TOPIC" --query id -o tsv)
  # System-assigned identity on the partner topic (ARM PATCH; no dedicated az flag).
  az rest --method PATCH --url "https://management.azure.com${topic_id}?api-version=2022-06-15" \
    --body '{"identity":{"type":"SystemAssigned"}}' --output none
  local topic_principal; topic_principal=$(az eventgrid partner topic show -g "$RG" -n "$TOPIC" --query identity.principalId -o tsv)
  need "partner topic identity" "$topic_principal"
  az role assignment create --assignee-object-id "$topic_principal" --assignee-principal-type ServicePrincipal \
    --role "Azure Service Bus Data Sender" --scope "$QUEUE_ID" --output none

  echo "6/6 event subscription -> $QUEUE_ID (CloudEvents 1.0)"
  # All event types on purpose: lifecycle events (reauthorizationRequired,
  # subscriptionRemoved) travel the same way and holdfast acts on them.
  az eventgrid partner topic event-subscription create -g "$RG" --partner-topic-name "$TOPIC" \
    --name "$EVENT_SUBSCRIPTION" \
    --event-delivery-schema cloudeventschemav1_0 \
    --delivery-identity systemassigned \
    --delivery-identity-endpoint-type servicebusqueue \
    --delivery-identity-endpoint "$QUEUE_ID" \
    --output none
  echo "done. holdfast renews the subscription itself; 'holdfast status' shows it."
}

status() {
  need AZURE_RESOURCE_GROUP "$RG"
  if [ -n "$APP" ]; then
    local key; key=$(az functionapp keys list -g "$RG" -n "$APP" --query functionKeys.default -o tsv 2>/dev/null || true)
    [ -n "$key" ] && curl -fsS "https://${APP}.azurewebsites.net/api/holdfast/health?code=${key}" && echo
  fi
  az eventgrid partner topic show -g "$RG" -n "$TOPIC" --query "{name:name, activationState:activationState, provisioningState:provisioningState}" -o table
  az eventgrid partner topic event-subscription list -g "$RG" --partner-topic-name "$TOPIC" --query "[].{name:name, state:provisioningState}" -o table
}

case "${1:-}" in
  setup) setup ;;
  status) status ;;
  *) sed -n '2,19p' "$0"; exit 2 ;;
esac
