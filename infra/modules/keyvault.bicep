// The Key Vault that holds the app's secrets. Access is by Azure RBAC only; the template creates no
// secret: an operator sets each one with `az keyvault secret set` (infra/README.md), and the function
// app reads them through Key Vault references in its app settings.

@description('Azure region of the resources.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Name of the Key Vault (3-24 letters, digits and hyphens).')
@minLength(3)
@maxLength(24)
param keyVaultName string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  tags: tags
  #checkov:skip=CKV_AZURE_109:The Flex Consumption app runs without virtual network integration here and resolves its Key Vault references over the public endpoint, so the firewall cannot default to Deny; access is by Entra ID and RBAC only.
  #checkov:skip=CKV_AZURE_189:Same reason as CKV_AZURE_109: public network access stays enabled for Key Vault reference resolution; no access policies exist and RBAC grants only Key Vault Secrets User to the app.
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
