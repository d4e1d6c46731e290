// holdfast on Azure: Flex Consumption Function App (custom handler), one
// user-assigned managed identity, Service Bus, Storage, Key Vault, Application
// Insights. Deploy with `azd up` (azure.yaml) or
// `az deployment group create -g RG -f infra/main.bicep -p infra/main.parameters.json`.
// Graph app roles and the Exchange role are granted afterwards by
// infra/grant-permissions.sh (they live in Entra ID / Exchange, not in ARM).

targetScope = 'resourceGroup'

@minLength(1)
@maxLength(20)
@description('Environment name (azd: AZURE_ENV_NAME); part of every resource name.')
param environmentName string

@description('Region for every resource; must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
param location string = resourceGroup().location

@description('Entra tenant holdfast protects (HOLDFAST_TENANT_ID). Empty means the subscription\'s tenant.')
param tenantId string = ''

// Settings holdfast reads. Defaults equal shared/config Settings(); the
// consistency test fails when they drift.
param graphBaseUrl string = 'https://graph.microsoft.com/v1.0'
param exchangeBaseUrl string = 'https://outlook.office365.com'
param sweepSchedule string = '0 */5 * * * *'
param reconcileSchedule string = '0 0 */6 * * *'
@description('act, or observe: decide and audit everything but only record tenant writes as planned actions (rollout).')
@allowed(['act', 'observe'])
param actions string = 'act'
@allowed(['retain', 'release'])
param defaultRetention string = 'retain'
@description('Litigation Hold duration in days; 0 is unlimited.')
param holdDurationDays string = '0'
param holdPropagation string = '60m'
@description('How long Exchange may lag behind the directory; a mailbox found in no scope is written off only after readings spanning longer.')
param exchangeLag string = '24h'
@description('How long a transiently failing message is rescheduled with growing delays before it is dead-lettered.')
param retryBudget string = '6h'
param warnThresholds string = '14d,7d,3d,1d'
@allowed(['undelete', 'copy-to-archive'])
param rescueMode string = 'undelete'
param rescueMargin string = '72h'
@description('UPN of the mailbox receiving copy-to-archive restores; required when rescueMode is copy-to-archive.')
param archiveTarget string = ''
@description('Path of a policy JSON file inside the deployed package (e.g. policies.json); empty for none.')
param policyFile string = ''
@secure()
@description('clientState of the Graph users subscription (infra/graph-notifications.sh prints it); notifications without it are rejected. Empty: not checked.')
param graphClientState string = ''
@description('Microsoft public key for SecureString cmdlet parameters (-Password), <RSAKeyValue> XML or PEM (see docs/contracts.md); Microsoft rotates it. Empty: recoveries that need a password stop at a blocker with the PowerShell to run.')
param exoSecureStringKey string = ''
@secure()
@description('Teams incoming webhook / Workflows URL; stored in Key Vault, never in app settings. Empty disables the channel.')
param teamsWebhookUrl string = ''
@description('Mailbox that sends alert mail (Graph sendMail); set together with alertMailTo.')
param alertMailFrom string = ''
@description('Comma-separated alert mail recipients.')
param alertMailTo string = ''
@allowed(['trace', 'debug', 'info', 'warn', 'error'])
param logLevel string = 'info'

// Capacity. 2048 MB: an instance runs the Functions host (.NET, the Service
// Bus extension) next to the Go handler; 512 MB would leave little headroom
// and a proportionally smaller CPU share for a saving that is small because
// holdfast runs a few seconds every few minutes. Lower it after watching
// memory in Application Insights if cost matters.
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048
// 10 instances x maxConcurrentCalls 8 = 80 messages in flight at most: the
// binding limit is Exchange Online's per-tenant throttling, not compute.
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 10

@description('Object ids of principals (HR integration, operators) allowed to send to hr-offboarding.')
param hrPublisherPrincipalIds array = []

var effectiveTenantId = empty(tenantId) ? subscription().tenantId : tenantId
var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = { 'azd-env-name': environmentName, app: 'holdfast' }
var functionAppName = 'func-holdfast-${token}'
var deploymentContainerName = 'app-package-${take(token, 8)}'

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: 'id-holdfast-${token}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-holdfast-${token}'
    appInsightsName: 'appi-holdfast-${token}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: 'sthf${take(token, 13)}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    deploymentContainerName: deploymentContainerName
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    name: 'sb-holdfast-${token}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    hrPublisherPrincipalIds: hrPublisherPrincipalIds
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: 'kv-hf-${take(token, 13)}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    teamsWebhookUrl: teamsWebhookUrl
  }
}

// APP SETTINGS CONVENTION (read by infra/consistency_test.go): between the
// BEGIN and END markers, exactly one setting per line, written as
//   { name: '<SETTING>', value: <expression> }
// The test fails if a line there does not have that shape, if it finds no
// settings, or if a setting the binary reads (shared/config Settings()) is
// missing. Not here on purpose: FUNCTIONS_CUSTOMHANDLER_PORT (the host sets
// it), FUNCTIONS_WORKER_RUNTIME (Flex derives it from functionAppConfig and
// rejects it), and the connection-string forms AzureWebJobsStorage and
// ServiceBusConnection (local only; Azure uses the identity-based forms).
var appSettings = [
  // BEGIN app settings
  { name: 'AzureWebJobsStorage__accountName', value: storage.outputs.accountName }
  { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
  { name: 'AzureWebJobsStorage__clientId', value: identity.outputs.clientId }
  { name: 'AzureWebJobsStorage__tableServiceUri', value: storage.outputs.tableEndpoint }
  { name: 'ServiceBusConnection__fullyQualifiedNamespace', value: serviceBus.outputs.fullyQualifiedNamespace }
  { name: 'ServiceBusConnection__credential', value: 'managedidentity' }
  { name: 'ServiceBusConnection__clientId', value: identity.outputs.clientId }
  { name: 'AZURE_CLIENT_ID', value: identity.outputs.clientId }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: monitoring.outputs.connectionString }
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.outputs.clientId};Authorization=AAD' }
  { name: 'HOLDFAST_MODE', value: 'azure' }
  { name: 'HOLDFAST_TENANT_ID', value: effectiveTenantId }
  { name: 'HOLDFAST_ACTIONS', value: actions }
  { name: 'HOLDFAST_GRAPH_BASE_URL', value: graphBaseUrl }
  { name: 'HOLDFAST_EXCHANGE_BASE_URL', value: exchangeBaseUrl }
  { name: 'HOLDFAST_SWEEP_SCHEDULE', value: sweepSchedule }
  { name: 'HOLDFAST_RECONCILE_SCHEDULE', value: reconcileSchedule }
  { name: 'HOLDFAST_DEFAULT_RETENTION', value: defaultRetention }
  { name: 'HOLDFAST_HOLD_DURATION_DAYS', value: holdDurationDays }
  { name: 'HOLDFAST_HOLD_PROPAGATION', value: holdPropagation }
  { name: 'HOLDFAST_EXCHANGE_LAG', value: exchangeLag }
  { name: 'HOLDFAST_WARN_THRESHOLDS', value: warnThresholds }
  { name: 'HOLDFAST_RESCUE_MODE', value: rescueMode }
  { name: 'HOLDFAST_RESCUE_MARGIN', value: rescueMargin }
  { name: 'HOLDFAST_ARCHIVE_TARGET', value: archiveTarget }
  { name: 'HOLDFAST_POLICY_FILE', value: policyFile }
  { name: 'HOLDFAST_GRAPH_CLIENT_STATE', value: graphClientState }
  { name: 'HOLDFAST_EXO_SECURESTRING_KEY', value: exoSecureStringKey }
  { name: 'HOLDFAST_TEAMS_WEBHOOK_URL', value: empty(teamsWebhookUrl) ? '' : '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.teamsWebhookSecretUri})' }
  { name: 'HOLDFAST_ALERT_MAIL_FROM', value: alertMailFrom }
  { name: 'HOLDFAST_ALERT_MAIL_TO', value: alertMailTo }
  { name: 'HOLDFAST_RETRY_BUDGET', value: retryBudget }
  { name: 'HOLDFAST_ALERTS_TOPIC', value: serviceBus.outputs.alertsTopicName }
  { name: 'HOLDFAST_LOG_LEVEL', value: logLevel }
  // END app settings
]

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: functionAppName
    planName: 'plan-holdfast-${token}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    appSettings: appSettings
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
  }
}

// azd stores outputs in the environment (.azure/<env>/.env); the scripts in
// infra/ read them from there or from `az deployment group show`.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = effectiveTenantId
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_HOSTNAME string = functionApp.outputs.defaultHostName
output MANAGED_IDENTITY_NAME string = identity.outputs.name
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output SERVICE_BUS_NAMESPACE string = serviceBus.outputs.namespaceName
output SERVICE_BUS_FQDN string = serviceBus.outputs.fullyQualifiedNamespace
output DIRECTORY_EVENTS_QUEUE_ID string = serviceBus.outputs.directoryQueueId
output HR_OFFBOARDING_QUEUE_ID string = serviceBus.outputs.hrQueueId
output STORAGE_ACCOUNT_NAME string = storage.outputs.accountName
output KEY_VAULT_NAME string = keyVault.outputs.vaultName
output APPLICATION_INSIGHTS_NAME string = monitoring.outputs.appInsightsName
