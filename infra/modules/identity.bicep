// The user-assigned managed identity holdfast runs as. User-assigned (not
// system-assigned) so its Graph app roles and Exchange role group membership
// survive deleting and recreating the Function App.

param name string
param location string
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
