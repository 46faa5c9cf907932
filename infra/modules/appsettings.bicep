// Every app setting of the function app, written after the managed identity holds its roles (main.bicep
// orders this module after roles.bicep), so the Key Vault references resolve on the first start.

@description('Name of the function app.')
param functionAppName string

@description('App settings, name to value; secrets are Key Vault references, never values.')
param appSettings object

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  #checkov:skip=CKV_AZURE_13:Webhook callers (GP API, Business Central, F&O) cannot sign in through App Service Authentication; each route authenticates by signature, clientState or function key.
  #checkov:skip=CKV_AZURE_63:App Service web-server HTTP logs do not exist on Flex Consumption; every request, failure and exception goes to Application Insights.
  #checkov:skip=CKV_AZURE_65:Detailed error pages are a web-server feature Flex Consumption apps do not have; errors go to Application Insights.
  #checkov:skip=CKV_AZURE_66:Failed request tracing is a web-server feature Flex Consumption apps do not have; failed executions go to Application Insights and raise an alert.
  #checkov:skip=CKV_AZURE_80:The app runs Python 3.11; no .NET Framework version applies.
  #checkov:skip=CKV_AZURE_88:Flex Consumption deploys from a blob container and has no Azure Files content share.
  #checkov:skip=CKV_AZURE_222:Public network access stays on: Heartland and Dynamics deliver their webhooks over the internet.
  parent: site
  name: 'appsettings'
  properties: appSettings
}
