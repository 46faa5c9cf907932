// The operations workbook (Azure Monitor > Workbooks, or the workspace's Workbooks blade): flow counts
// per source and stage, dead letters, discrepancies, ERP throttling and function failures. Its queries
// live in workbook.json; the workspace id is substituted at deployment.

@description('Azure region of the workbook.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Resource id of the Log Analytics workspace the workbook queries.')
param workspaceId string

@description('Name shown in the portal.')
param displayName string

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, workspaceId, 'hl365-operations')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: workspaceId
    serializedData: replace(loadTextContent('workbook.json'), '__WORKSPACE_ID__', workspaceId)
  }
}

output id string = workbook.id
