// Key Vault for the one secret holdfast has: the Teams webhook URL (anyone
// holding it can post into the channel). The app setting is a Key Vault
// reference resolved by the platform with the app's identity, so the value
// never sits in the site configuration, and rotating it is a new secret
// version (picked up within 24 h, or at once on restart) instead of a
// redeployment.

param name string
param location string
param tags object = {}
param principalId string
@secure()
param teamsWebhookUrl string = ''

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var secretName = 'teams-webhook-url'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(teamsWebhookUrl)) {
  parent: vault
  name: secretName
  properties: {
    value: teamsWebhookUrl
    contentType: 'text/plain'
  }
}

// Read access to this one secret only, not the vault.
resource secretReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(teamsWebhookUrl)) {
  name: guid(vault.id, secretName, principalId, keyVaultSecretsUser)
  scope: secret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output vaultName string = vault.name
// Versionless URI: the platform follows the latest version.
output teamsWebhookSecretUri string = '${vault.properties.vaultUri}secrets/${secretName}'
