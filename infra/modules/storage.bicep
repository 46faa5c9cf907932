// The storage account: the Functions host's own storage (AzureWebJobsStorage), the Flex Consumption
// deployment container and the app's tables (IdempotencyKeys, AuditLog, DeadLetters, ...), which the
// app creates on first use. Shared keys are off: every caller authenticates with Microsoft Entra ID.

@description('Azure region of the resources.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Name of the storage account (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param storageAccountName string

@description('Blob container the Flex Consumption plan deploys the app package from.')
param deploymentContainerName string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  tags: tags
  sku: {
    name: 'Standard_LRS'
  }
  kind: 'StorageV2'
  #checkov:skip=CKV_AZURE_35:The Flex Consumption app runs without virtual network integration here, so the account must accept public traffic; shared keys are off and every request is authorised by Entra ID role assignments.
  #checkov:skip=CKV_AZURE_59:Same reason as CKV_AZURE_35: without virtual network integration the function app reaches the account over its public endpoint (Entra ID only, no shared keys).
  #checkov:skip=CKV_AZURE_206:Locally redundant storage is chosen on purpose: the tables hold idempotency keys, audit and dead letters that the sources can replay, and LRS keeps the cost at the figure in infra/README.md; switch the SKU to Standard_ZRS or Standard_GRS for stricter recovery goals.
  #checkov:skip=CKV_AZURE_43:The name is computed ('sthl365' plus 13 characters of uniqueString(): 20 lowercase letters and digits), which the naming-rule check cannot evaluate.
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
        table: {
          enabled: true
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Payroll registers: a file put here is imported (the payroll_register function's Event Grid blob trigger; Flex
// Consumption takes no polling blob trigger). The system topic publishes the account's blob events; the
// subscription to the function is created once the code is deployed (infra/README.md, "Payroll registers").
resource payrollContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'payroll-registers'
  properties: {
    publicAccess: 'None'
  }
}

resource blobEvents 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: '${storageAccountName}-events'
  location: location
  tags: tags
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

output id string = storage.id
output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output tableEndpoint string = storage.properties.primaryEndpoints.table
output blobEventsTopicName string = blobEvents.name
output deploymentContainerUrl string = '${storage.properties.primaryEndpoints.blob}${deploymentContainer.name}'
