// The function app on the Flex Consumption plan: Linux, Python 3.11, system-assigned managed identity,
// HTTPS only, code deployed from a blob container the identity reads. The full app settings are
// written by appsettings.bicep once the identity holds its roles, so Key Vault references resolve on
// the first start; the settings below are what the host needs to start at all.

@description('Azure region of the resources.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Name of the Flex Consumption plan.')
param planName string

@description('Name of the function app (also its host name: NAME.azurewebsites.net).')
param functionAppName string

@description('URL of the blob container the plan deploys the app package from.')
param deploymentContainerUrl string

@description('Name of the storage account used as AzureWebJobsStorage (identity-based).')
param storageAccountName string

@description('Application Insights connection string (local authentication is off; the identity publishes).')
param appInsightsConnectionString string

@description('Most instances the app may scale out to (Flex Consumption accepts 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Tag azd uses to find the app it deploys the code to (service name in azure.yaml).')
param azdServiceName string = 'api'

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  #checkov:skip=CKV_AZURE_225:Zone redundancy on Flex Consumption is offered only in some regions, so it is not forced here; set properties.zoneRedundant in a region that offers it.
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  tags: union(tags, {
    'azd-service-name': azdServiceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  #checkov:skip=CKV_AZURE_17:Client certificates cannot be required: GP API, Business Central and F&O call the webhooks without one; each route authenticates by signature, clientState or function key instead.
  #checkov:skip=CKV_AZURE_222:Public network access stays on: Heartland and Dynamics deliver their webhooks over the internet.
  #checkov:skip=CKV_AZURE_212:Flex Consumption scales out per function on demand, from zero; a fixed minimum instance count would be billed around the clock for no failover gain.
  #checkov:skip=CKV_AZURE_213:App Service health check pings would keep a scale-to-zero Flex Consumption instance running; GET /api/health answers external probes instead.
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      appSettings: [
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storageAccountName
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsightsConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'Authorization=AAD'
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output id string = site.id
output name string = site.name
output principalId string = site.identity.principalId
output defaultHostName string = site.properties.defaultHostName
