#!/usr/bin/env bash
# Microsoft Graph user change notifications -> Event Grid partner topic ->
# Service Bus queue directory-events, in the CloudEvents 1.0 schema.
#
# Bicep cannot express this: the partner topic is created by Microsoft Graph
# when the Graph subscription is created (a Graph call, not an ARM resource),
# and the event subscription can only be created once that topic exists.
#
#   infra/graph-notifications.sh setup   # partner authorization, Graph subscription, topic, event subscription
#   infra/graph-notifications.sh renew   # extend the Graph subscription (do this at least every 3 weeks)
#   infra/graph-notifications.sh status  # show the Graph subscription and the partner topic
#
# Reads from the environment, or from the azd environment when azd is present:
#   AZURE_RESOURCE_GROUP, AZURE_LOCATION, DIRECTORY_EVENTS_QUEUE_ID   (Bicep outputs)
#   PARTNER_TOPIC     partner topic name (default holdfast-graph-users)
#   GRAPH_SUBSCRIPTION_ID   set by `setup` (azd env) and used by `renew`
#   GRAPH_TOKEN       optional bearer token for Graph; default: your az login
#
# The Graph subscription belongs to whoever creates it: with the default
# (your az login) only you can renew it, and it stops if your account loses
# access. Use an account meant for operations. Notifications are an early
# warning only: the Reconcile timer (every 6 h) finds every leaver anyway.
set -euo pipefail

GRAPH_PARTNER_NAME=MicrosoftGraphAPI
# Immutable id of the Microsoft Graph API partner registration, as used by
# public deployment scripts; `az eventgrid partner configuration authorize
# --partner-name MicrosoftGraphAPI` is the equivalent by name.
GRAPH_PARTNER_ID=c02e0126-707c-436d-b6a1-175d2748fb58
# Subscriptions on users may last at most 41,760 minutes (29 days); renew
# well before that.
LIFETIME_DAYS=28
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
TOPIC=$(env_get PARTNER_TOPIC); TOPIC=${TOPIC:-holdfast-graph-users}
SUB_ID=$(az account show --query id -o tsv)

need() { [ -n "$2" ] || { echo "missing $1 (see the header of $0)" >&2; exit 2; }; }

graph() { # METHOD URL BODY [az rest options...]
  local args=(--method "$1" --url "$2")
  local headers=("Content-Type=application/json")
  [ -n "${3:-}" ] && args+=(--body "$3")
  local tok; tok=$(env_get GRAPH_TOKEN)
  if [ -n "$tok" ]; then
    headers+=("Authorization=Bearer $tok")
    args+=(--skip-authorization-header)
  fi
  az rest "${args[@]}" --headers "${headers[@]}" "${@:4}"
}

expiry() { date -u -d "+${LIFETIME_DAYS} days" +%Y-%m-%dT%H:%M:%SZ; }

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

  echo "3/6 Graph subscription on users (creates partner topic $TOPIC)"
  local url="EventGrid:?azuresubscriptionid=${SUB_ID}&resourcegroup=${RG}&partnertopic=${TOPIC}&location=${LOCATION}"
  # The clientState is a shared secret holdfast checks on every notification
  # (HOLDFAST_GRAPH_CLIENT_STATE); reuse the configured one when there is one.
  local state; state=${HOLDFAST_GRAPH_CLIENT_STATE:-$(openssl rand -hex 16)}
  local body
  body=$(printf '{"changeType":"updated,deleted","notificationUrl":"%s","lifecycleNotificationUrl":"%s","resource":"users","expirationDateTime":"%s","clientState":"%s"}' \
    "$url" "$url" "$(expiry)" "$state")
  local id; id=$(graph POST https://graph.microsoft.com/v1.0/subscriptions "$body" --query id -o tsv)
  need "Graph subscription id" "$id"
  echo "    subscription $id (expires in ${LIFETIME_DAYS} days)"
  command -v azd >/dev/null 2>&1 && azd env set GRAPH_SUBSCRIPTION_ID "$id" >/dev/null || echo "    export GRAPH_SUBSCRIPTION_ID=$id for renew"
  if command -v azd >/dev/null 2>&1; then
    azd env set HOLDFAST_GRAPH_CLIENT_STATE "$state" >/dev/null
    echo "    clientState saved as HOLDFAST_GRAPH_CLIENT_STATE: run 'azd provision' so holdfast checks it"
  else
    echo "    set the app setting HOLDFAST_GRAPH_CLIENT_STATE to the clientState you passed (or export it before running setup)"
  fi

  echo "4/6 activate the partner topic"
  for _ in $(seq 1 30); do
    az eventgrid partner topic show -g "$RG" -n "$TOPIC" >/dev/null 2>&1 && break
    sleep 10
  done
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
  # All event types on purpose: holdfast rejects lifecycle events
  # (subscription needs renewing) with an alert, which is how you hear of them.
  az eventgrid partner topic event-subscription create -g "$RG" --partner-topic-name "$TOPIC" \
    --name "$EVENT_SUBSCRIPTION" \
    --event-delivery-schema cloudeventschemav1_0 \
    --delivery-identity systemassigned \
    --delivery-identity-endpoint-type servicebusqueue \
    --delivery-identity-endpoint "$QUEUE_ID" \
    --output none
  echo "done. Renew before $(expiry): $0 renew"
}

renew() {
  local id; id=$(env_get GRAPH_SUBSCRIPTION_ID)
  need GRAPH_SUBSCRIPTION_ID "$id"
  graph PATCH "https://graph.microsoft.com/v1.0/subscriptions/${id}" "{\"expirationDateTime\":\"$(expiry)\"}" --output none
  echo "subscription $id now expires $(expiry)"
}

status() {
  local id; id=$(env_get GRAPH_SUBSCRIPTION_ID)
  if [ -n "$id" ]; then
    graph GET "https://graph.microsoft.com/v1.0/subscriptions/${id}" "" --query "{id:id, resource:resource, expires:expirationDateTime}" -o table
  fi
  need AZURE_RESOURCE_GROUP "$RG"
  az eventgrid partner topic show -g "$RG" -n "$TOPIC" --query "{name:name, activationState:activationState, provisioningState:provisioningState}" -o table
  az eventgrid partner topic event-subscription list -g "$RG" --partner-topic-name "$TOPIC" --query "[].{name:name, state:provisioningState}" -o table
}

case "${1:-}" in
  setup) setup ;;
  renew) renew ;;
  status) status ;;
  *) sed -n '2,22p' "$0"; exit 2 ;;
esac
