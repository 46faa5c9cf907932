// hl365 on Azure: the function app (Flex Consumption, Python 3.11) with its storage, Service Bus
// queues, Key Vault, monitoring, workbook and alerts, in one resource group.
//   azd up                                   (azure.yaml at the repository root)
//   az deployment group create -g RG -f infra/main.bicep -p environmentName=prod alertEmail=ops@example.com
// infra/README.md lists what is created, how secrets are set and what it costs.
targetScope = 'resourceGroup'

@description('Short environment name (e.g. prod, test); part of every resource name.')
@minLength(1)
@maxLength(16)
param environmentName string

@description('Azure region; must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
param location string = resourceGroup().location

@description('E-mail address that receives the alerts.')
param alertEmail string

@description('Where journals and payments go (D365_TARGET).')
@allowed([
  'fo'
  'bc'
  'embedded'
])
param d365Target string = 'fo'

@description('Finance & Operations URL (D365_FO_URL), e.g. https://contoso.operations.dynamics.com.')
param d365FoUrl string = ''

@description('Business Central API base URL (D365_BC_URL).')
param d365BcUrl string = ''

@description('Entra tenant id of the Dynamics app registration (D365_TENANT_ID).')
param d365TenantId string = ''

@description('Client id of the Dynamics app registration (D365_CLIENT_ID); its secret is in Key Vault.')
param d365ClientId string = ''

@description('How the app gets Entra tokens for Dynamics (D365_CREDENTIAL): secret (the Key Vault secret d365-client-secret), managed_identity (the app\'s own identity, listed in Dynamics), federated (the app registration trusts the app\'s identity: no secret at all).')
@allowed([
  'secret'
  'managed_identity'
  'federated'
])
param d365Credential string = 'secret'

@description('F&O legal entity (D365_LEGAL_ENTITY).')
param d365LegalEntity string = ''

@description('Business Central environment (D365_BC_ENVIRONMENT).')
param d365BcEnvironment string = 'production'

@description('Business Central company name or id (D365_BC_COMPANY).')
param d365BcCompany string = ''

@description('Dataverse (CRM) organisation URL, https://{org}.crm.dynamics.com (D365_DATAVERSE_URL); empty: no CRM.')
param d365DataverseUrl string = ''

@description('Heartland Portico gateway root for gift and loyalty balances (PORTICO_URL); its key is in Key Vault.')
param porticoUrl string = ''

@description('Heartland Payroll partner POS API root (HEARTLAND_PAYROLL_URL); empty: employees are not synced.')
param heartlandPayrollUrl string = ''

@description('Heartland Payroll API user (HEARTLAND_PAYROLL_USERNAME); its password and API key are in Key Vault.')
param heartlandPayrollUsername string = ''

@description('Heartland Payroll client code (HEARTLAND_PAYROLL_CLIENT_CODE).')
param heartlandPayrollClientCode string = ''

@description('GP API base URL (GP_API_URL).')
param gpApiUrl string = ''

@description('GP API app id (GP_APP_ID); the app key is in Key Vault.')
param gpAppId string = ''

@description('Heartland Retail API base URL (RETAIL_API_URL); the token is in Key Vault.')
param retailApiUrl string = ''

@description('Merchant whose day is closed (HL365_MERCHANT_ID).')
param merchantId string = ''

@description('IANA time zone of the merchant\'s business day (HL365_MERCHANT_TIMEZONE).')
param merchantTimezone string = 'UTC'

@description('NCRONTAB schedule of the end-of-day settlement, in UTC on Flex Consumption (HL365_EOD_SCHEDULE).')
param eodSchedule string = '0 0 4 * * *'

@description('NCRONTAB schedule of the Business Central subscription renewal (HL365_BC_SUBSCRIPTION_SCHEDULE).')
param bcSubscriptionSchedule string = '0 0 */6 * * *'

@description('NCRONTAB schedule of the customer sync: pull, match, link to profiles (HL365_CUSTOMERS_SCHEDULE).')
param customersSchedule string = '0 15 * * * *'

@description('NCRONTAB schedule of the catalogue sync: POS sales into ERP stock, items, prices, stock (HL365_CATALOG_SCHEDULE).')
param catalogSchedule string = '0 45 * * * *'

@description('NCRONTAB schedule of the employee sync into Heartland Payroll (HL365_EMPLOYEES_SCHEDULE).')
param employeesSchedule string = '0 5 * * * *'

@description('NCRONTAB schedule of the anomaly watch over the payment stream (HL365_ANOMALY_SCHEDULE).')
param anomalySchedule string = '0 */5 * * * *'

@description('Workflow rules file deployed with the app, e.g. rules.yaml; empty for none (HL365_RULES_FILE).')
param rulesFile string = ''

@description('Other currencies that need the ERP\'s exchange rate, comma-separated (HL365_FOREIGN_CURRENCIES).')
param foreignCurrencies string = ''

@description('How orders are taken through GP (HL365_ORDER_CAPTURE).')
@allowed([
  'charge'
  'authorise'
])
param orderCapture string = 'charge'

@description('Hour (0-23, merchant time) by which the previous business day must be closed, else an alert.')
@minValue(0)
@maxValue(23)
param dayClosedByHour int = 8

@description('Most instances the function app may scale out to (Flex Consumption: 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Add a diagnostic setting on the function app too (infra/README.md: Flex Consumption support).')
param functionAppDiagnostics bool = false

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName, location))
var tags = {
  application: 'hl365'
  'azd-env-name': environmentName
}
var names = {
  workspace: 'log-hl365-${environmentName}'
  appInsights: 'appi-hl365-${environmentName}'
  storage: 'sthl365${take(resourceToken, 13)}'
  serviceBus: 'sb-hl365-${environmentName}-${take(resourceToken, 8)}'
  keyVault: 'kv-hl365-${take(resourceToken, 13)}'
  plan: 'plan-hl365-${environmentName}'
  functionApp: 'func-hl365-${environmentName}-${take(resourceToken, 8)}'
  deploymentContainer: 'app-package'
}

// Every queue the app binds or sends to, with the semantics the code relies on:
//   lockDuration        1 minute; the host renews it up to maxAutoLockRenewalDuration (host.json)
//   maxDeliveryCount    10; past it Service Bus dead-letters and the sweep parks the message
//   duplicateDetection  10 minutes, keyed on MessageId = the envelope's idempotency key
//   time to live        14 days, far above the longest retry delay (1 hour, shared/flows/pipeline.py)
var queues = [
  {
    name: 'payments-transform'
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    defaultMessageTimeToLive: 'P14D'
  }
  {
    name: 'payments-post'
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    defaultMessageTimeToLive: 'P14D'
  }
  {
    name: 'customers-changed'
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    defaultMessageTimeToLive: 'P14D'
  }
  {
    name: 'orders-transform'
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    defaultMessageTimeToLive: 'P14D'
  }
  {
    name: 'orders-charge'
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    defaultMessageTimeToLive: 'P14D'
  }
]

// Secrets are Key Vault references (secret names take hyphens: Key Vault allows no underscores).
// The operator sets each secret once with `az keyvault secret set` (infra/README.md).
var appSettings = {
  AzureWebJobsStorage__accountName: storage.outputs.name
  AzureWebJobsStorage__tableServiceUri: storage.outputs.tableEndpoint
  ServiceBusConnection__fullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
  HL365_STORAGE: 'azure'
  HL365_BUS: 'servicebus'
  D365_TARGET: d365Target
  D365_FO_URL: d365FoUrl
  D365_BC_URL: d365BcUrl
  D365_TENANT_ID: d365TenantId
  D365_CLIENT_ID: d365ClientId
  D365_CREDENTIAL: d365Credential
  D365_CLIENT_SECRET: '@Microsoft.KeyVault(VaultName=${names.keyVault};SecretName=d365-client-secret)'
  D365_LEGAL_ENTITY: d365LegalEntity
  D365_BC_ENVIRONMENT: d365BcEnvironment
  D365_BC_COMPANY: d365BcCompany
  D365_DATAVERSE_URL: d365DataverseUrl
  GP_API_URL: gpApiUrl
  GP_APP_ID: gpAppId
  GP_APP_KEY: '@Microsoft.KeyVault(VaultName=${names.keyVault};SecretName=gp-app-key)'
  RETAIL_API_URL: retailApiUrl
  PORTICO_URL: porticoUrl
  PORTICO_SECRET_API_KEY: '@Microsoft.KeyVault(VaultName=${names.keyVault};SecretName=portico-secret-api-key)'
  RETAIL_API_TOKEN: '@Microsoft.KeyVault(VaultName=${names.keyVault};SecretName=retail-api-token)'
  HL365_AUDIT_KEY: '@Microsoft.KeyVault(VaultName=${names.keyVault};SecretName=hl365-audit-key)'
  BC_WEBHOOK_CLIENT_STATE: '@Microsoft.KeyVault(VaultName=${names.keyVault};SecretName=bc-webhook-client-state)'
  HL365_MERCHANT_ID: merchantId
  HL365_MERCHANT_TIMEZONE: merchantTimezone
  HL365_EOD_SCHEDULE: eodSchedule
  HL365_BC_SUBSCRIPTION_SCHEDULE: bcSubscriptionSchedule
  HL365_CUSTOMERS_SCHEDULE: customersSchedule
  HL365_CATALOG_SCHEDULE: catalogSchedule
  HL365_EMPLOYEES_SCHEDULE: employeesSchedule
  HL365_ANOMALY_SCHEDULE: anomalySchedule
  HL365_RULES_FILE: rulesFile
  HEARTLAND_PAYROLL_URL: heartlandPayrollUrl
  HEARTLAND_PAYROLL_USERNAME: heartlandPayrollUsername
  HEARTLAND_PAYROLL_CLIENT_CODE: heartlandPayrollClientCode
  HEARTLAND_PAYROLL_PASSWORD: '@Microsoft.KeyVault(VaultName=${names.keyVault};SecretName=heartland-payroll-password)'
  HEARTLAND_PAYROLL_API_KEY: '@Microsoft.KeyVault(VaultName=${names.keyVault};SecretName=heartland-payroll-api-key)'
  HL365_FOREIGN_CURRENCIES: foreignCurrencies
  HL365_ORDER_CAPTURE: orderCapture
  HL365_PUBLIC_URL: 'https://${functionApp.outputs.defaultHostName}'
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    workspaceName: names.workspace
    appInsightsName: names.appInsights
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    tags: tags
    storageAccountName: names.storage
    deploymentContainerName: names.deploymentContainer
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    location: location
    tags: tags
    namespaceName: names.serviceBus
    queues: queues
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    tags: tags
    keyVaultName: names.keyVault
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    location: location
    tags: tags
    planName: names.plan
    functionAppName: names.functionApp
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    storageAccountName: storage.outputs.name
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    maximumInstanceCount: maximumInstanceCount
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  params: {
    principalId: functionApp.outputs.principalId
    serviceBusNamespaceName: serviceBus.outputs.name
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

module settings 'modules/appsettings.bicep' = {
  name: 'appsettings'
  dependsOn: [
    roles
  ]
  params: {
    functionAppName: functionApp.outputs.name
    appSettings: appSettings
  }
}

module diagnostics 'modules/diagnostics.bicep' = {
  name: 'diagnostics'
  params: {
    workspaceId: monitoring.outputs.workspaceId
    serviceBusNamespaceName: serviceBus.outputs.name
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    functionAppName: functionApp.outputs.name
    functionAppDiagnostics: functionAppDiagnostics
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  params: {
    location: location
    tags: tags
    workspaceId: monitoring.outputs.workspaceId
    displayName: 'hl365 operations (${environmentName})'
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    location: location
    tags: tags
    workspaceId: monitoring.outputs.workspaceId
    serviceBusNamespaceId: serviceBus.outputs.id
    namePrefix: 'hl365-${environmentName}'
    alertEmail: alertEmail
    merchantTimezone: merchantTimezone
    dayClosedByHour: dayClosedByHour
  }
}

output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_FUNCTION_APP_PRINCIPAL_ID string = functionApp.outputs.principalId
output AZURE_BLOB_EVENTS_TOPIC string = storage.outputs.blobEventsTopicName
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_SERVICE_BUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output AZURE_LOG_ANALYTICS_WORKSPACE_ID string = monitoring.outputs.workspaceId
