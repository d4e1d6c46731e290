// Service Bus: the two inbound queues and the alerts topic. Local (SAS)
// authentication is disabled: every sender and receiver is an Entra identity
// with a data-plane role on exactly the entity it needs.
//
// Standard tier is enough for holdfast's volume (a few messages per leaver,
// bodies of a few KiB). Premium is needed for messages over 256 KB, for
// private endpoints / VNet integration, or for predictable latency on
// dedicated capacity; none applies here (events are capped at 64 KiB).

param name string
param location string
param tags object = {}
@description('Principal id of the app identity: receives from both queues, sends to the alerts topic.')
param principalId string
@description('Optional principals (HR integration, operators running `holdfast publish`) allowed to send to hr-offboarding.')
param hrPublisherPrincipalIds array = []
@description('Name of the alerts topic subscription created for operators; empty for none.')
param alertsSubscriptionName string = 'operations'

// Entity names: the consistency test (infra/consistency_test.go) reads these
// two lines and compares them with functions/*/function.json and with the
// HOLDFAST_ALERTS_TOPIC default in shared/config.
var queueNames = ['hr-offboarding', 'directory-events']
var alertsTopicName = 'alerts'

var serviceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
var serviceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
  }
}

// maxDeliveryCount 10: the handler answers non-2xx only for transient
// failures (storage, throttling beyond its own retries), and the host
// abandons the message, which Service Bus redelivers at once. The first
// deliveries ride out a blip; after that the handler schedules a copy with a
// growing delay, under HOLDFAST_RETRY_BUDGET, and only a message still
// failing when the budget is spent uses up its deliveries and reaches the
// dead-letter queue (docs/operations.md). lockDuration PT5M is the Standard maximum; the host renews the lock
// (host.json maxAutoLockRenewalDuration 00:15:00 > functionTimeout).
// Duplicate detection (1 day) drops a publisher's resend with the same
// MessageId before it reaches holdfast; the engine dedupes on the CloudEvent
// id as well.
resource queues 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = [for q in queueNames: {
  parent: namespace
  name: q
  properties: {
    lockDuration: 'PT5M'
    maxDeliveryCount: 10
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P1D'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
    maxSizeInMegabytes: 1024
    requiresSession: false
    enablePartitioning: false
  }
}]

// The alert id is the message id, so duplicate detection drops a repeated
// alert within the window.
resource alertsTopic 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = {
  parent: namespace
  name: alertsTopicName
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P1D'
    defaultMessageTimeToLive: 'P14D'
    maxSizeInMegabytes: 1024
    enablePartitioning: false
  }
}

resource alertsSubscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview' = if (!empty(alertsSubscriptionName)) {
  parent: alertsTopic
  name: empty(alertsSubscriptionName) ? 'unused' : alertsSubscriptionName
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
  }
}

resource receivers 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (q, i) in queueNames: {
  name: guid(queues[i].id, principalId, serviceBusDataReceiver)
  scope: queues[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

// Data Sender on its own queues: a message that fails transiently is
// completed and a copy is scheduled for later (ScheduleMessages), so an
// outage of hours does not burn the ten deliveries in a minute
// (docs/reliability.md, HOLDFAST_RETRY_BUDGET).
resource queueSenders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (q, i) in queueNames: {
  name: guid(queues[i].id, principalId, serviceBusDataSender)
  scope: queues[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

resource alertsSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(alertsTopic.id, principalId, serviceBusDataSender)
  scope: alertsTopic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// queues[0] is hr-offboarding (see queueNames).
resource hrPublishers 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for p in hrPublisherPrincipalIds: {
  name: guid(queues[0].id, p, serviceBusDataSender)
  scope: queues[0]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
    principalId: p
  }
}]

output namespaceName string = namespace.name
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
output alertsTopicName string = alertsTopic.name
output hrQueueId string = queues[0].id
output directoryQueueId string = queues[1].id
