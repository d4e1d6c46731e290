// Storage for the Functions host (AzureWebJobsStorage: keys, timer locks,
// diagnostic events), the Flex Consumption deployment package, and holdfast's
// tables. Shared keys are disabled: everything authenticates with Entra.

param name string
param location string
param tags object = {}
@description('Principal id of the app identity (host and holdfast share it).')
param principalId string
param deploymentContainerName string

// Table names: the store uses DefaultTablePrefix "holdfast" + cases, timers,
// rejected (shared/store/store.go). The store also creates them at start-up;
// creating them here makes a fresh deployment complete before the first run.
// infra/consistency_test.go reads the next line.
var tableNames = ['holdfastcases', 'holdfasttimers', 'holdfastrejected']

var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: { publicAccess: 'None' }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for t in tableNames: {
  parent: tableService
  name: t
}]

// Host storage: Learn ("Connecting to host storage with an identity") says
// Storage Blob Data Owner covers the host's basic needs (coordination, timer
// locks, the function key store) and Storage Table Data Contributor adds its
// diagnostic events. Flex Consumption reads the deployment package with the
// same identity. No queue role: no blob trigger, no Durable Functions.
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, storageBlobDataOwner)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// holdfast's own tables (and the host's diagnostic events). Account scope
// because the store creates missing tables at start-up.
resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, storageTableDataContributor)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output accountName string = account.name
output accountId string = account.id
// Without a trailing slash: the store appends table names itself.
output tableEndpoint string = 'https://${account.name}.table.${environment().suffixes.storage}'
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deploymentContainerName}'
