// Alert rules, all notifying one action group by e-mail. The log queries read what the app emits:
//   AppTraces   the `hl365.alerts` log line of every Alert (shared/ops/alerts.py), whose text is
//               "hl365 {kind}: {message}", and the host's "Executed 'Functions.{name}' (Succeeded" line
//   AppMetrics  the `hl365.messages` counter (shared/ops/telemetry.py), dimensions `stage` and `flow`
//   AppRequests function executions; host.json logs failed ones ("Host.Results": "Error")
// and Service Bus's own DeadletteredMessages metric for what the dead-letter sweep has not moved.

@description('Azure region of the log alert rules (the workspace\'s).')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Resource id of the Log Analytics workspace the log alerts query.')
param workspaceId string

@description('Resource id of the Service Bus namespace.')
param serviceBusNamespaceId string

@description('Name prefix of the alert rules.')
param namePrefix string

@description('Address that receives the alert e-mails.')
param alertEmail string

@description('IANA time zone of the merchant\'s business day (HL365_MERCHANT_TIMEZONE).')
param merchantTimezone string

@description('Hour (0-23, merchant time) by which the previous business day must have been closed.')
@minValue(0)
@maxValue(23)
param dayClosedByHour int

@description('Failed function executions within 15 minutes that raise the failure alert.')
@minValue(1)
param functionFailureThreshold int = 1

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${namePrefix}-operators'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'hl365'
    enabled: true
    emailReceivers: [
      {
        name: 'operators'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var deadLetteredQuery = '''
AppTraces
| where Message startswith "hl365 dead_lettered:" or Message startswith "hl365 settlement_failed:"
| project TimeGenerated, Message
'''

var discrepanciesQuery = '''
AppTraces
| where Message startswith "hl365 discrepancies:"
| project TimeGenerated, Message
'''

// Sustained: the ERP answered 429 in at least five of the last six five-minute intervals.
var erpThrottlingQuery = '''
AppMetrics
| where TimeGenerated > ago(30m)
| where Name == "hl365.messages"
| extend stage = tostring(Properties["stage"]), flow = tostring(Properties["flow"])
| where stage == "throttled" and flow in ("fo", "bc")
| summarize throttled = sum(Sum) by flow, bin(TimeGenerated, 5m)
| where throttled > 0
| summarize intervals = count(), throttled = sum(throttled) by flow
| where intervals >= 5
'''

var functionFailuresQuery = '''
AppRequests
| where Success == false
| summarize failures = count() by OperationName
| where failures >= __THRESHOLD__
'''

// Alerts the app raises that no rule above covers: card data refused at intake, a broken audit chain,
// the Business Central subscription lost, and any kind added later.
var otherAlertsQuery = '''
AppTraces
| where Message matches regex @"^hl365 [a-z_]+: "
| where not(Message startswith "hl365 dead_lettered:" or Message startswith "hl365 settlement_failed:" or Message startswith "hl365 discrepancies:")
| project TimeGenerated, Message
'''

// The previous business day counts as closed once eod_settlement (the timer) or settlement_run (the
// admin route) has succeeded in the 24 hours before today's deadline, or since.
var dayNotClosedQuery = '''
let tz = "__TIMEZONE__";
let local_now = datetime_utc_to_local(now(), tz);
let deadline = datetime_local_to_utc(startofday(local_now) + __CLOSE_HOUR__h, tz);
union
    (AppRequests
    | where OperationName in ("eod_settlement", "settlement_run") and Success == true
    | project TimeGenerated),
    (AppTraces
    | where Message startswith "Executed 'Functions.eod_settlement' (Succeeded" or Message startswith "Executed 'Functions.settlement_run' (Succeeded"
    | project TimeGenerated)
| where TimeGenerated > deadline - 24h
| summarize closes = count()
| where now() >= deadline and closes == 0
'''

var logRules = [
  {
    name: 'dead-letters'
    displayName: 'hl365: a message was dead-lettered'
    description: 'A message or a settlement batch was parked in DeadLetters. List with GET /api/admin/deadletters or hl365 dlq list; replay once the cause is fixed.'
    severity: 1
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    query: deadLetteredQuery
  }
  {
    name: 'discrepancies'
    displayName: 'hl365: discrepancies found at close'
    description: 'Reconciliation stored differences in the Discrepancies table for a closed day.'
    severity: 2
    evaluationFrequency: 'PT15M'
    windowSize: 'PT30M'
    query: discrepanciesQuery
  }
  {
    name: 'erp-throttling'
    displayName: 'hl365: sustained ERP throttling'
    description: 'Dynamics answered 429 in at least 25 of the last 30 minutes; postings are slowed or rescheduled.'
    severity: 2
    evaluationFrequency: 'PT5M'
    windowSize: 'PT30M'
    query: erpThrottlingQuery
  }
  {
    name: 'function-failures'
    displayName: 'hl365: function failures'
    description: 'Function executions ended in an unhandled exception; queue messages are redelivered and reach the dead-letter queue after the max delivery count.'
    severity: 1
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    query: replace(functionFailuresQuery, '__THRESHOLD__', string(functionFailureThreshold))
  }
  {
    name: 'other-app-alerts'
    displayName: 'hl365: alert raised by the app'
    description: 'Card data refused at intake, a broken audit chain, a lost Business Central subscription or another alert the app raised.'
    severity: 1
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    query: otherAlertsQuery
  }
  {
    name: 'day-not-closed'
    displayName: 'hl365: business day not closed'
    description: 'No successful end-of-day settlement by the configured hour, merchant time.'
    severity: 1
    evaluationFrequency: 'PT1H'
    windowSize: 'P2D'
    query: replace(replace(dayNotClosedQuery, '__TIMEZONE__', merchantTimezone), '__CLOSE_HOUR__', string(dayClosedByHour))
  }
]

resource logAlerts 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [for rule in logRules: {
  name: '${namePrefix}-${rule.name}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: rule.displayName
    description: rule.description
    severity: rule.severity
    enabled: true
    evaluationFrequency: rule.evaluationFrequency
    windowSize: rule.windowSize
    scopes: [
      workspaceId
    ]
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}]

// The sweep moves Service Bus's own dead letters into DeadLetters every five minutes; a message that
// stays in a dead-letter sub-queue for fifteen means the sweep itself is failing.
resource busDeadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-bus-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'Messages have stayed in a Service Bus dead-letter queue for 15 minutes: the dead_letter_sweep function is not moving them into DeadLetters.'
    severity: 1
    enabled: true
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLettered'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Minimum'
        }
      ]
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

output actionGroupId string = actionGroup.id
