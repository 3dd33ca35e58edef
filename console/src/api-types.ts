// The API's answers as the console names them: types only, taken from the API's own schemas
// (broker/api/types.ts), so they change when the API does. `import type` keeps broker/ code out
// of the bundle; this file needs no DOM, so the gateway's tests can check it too.
import type { Alarm, DeviceDetail } from '../../broker/api/types.ts'

export type { Alarm, Incident, AlarmHistory, AlarmList, AlarmStats, AlarmTimeline, ConsoleSettings, Device, DeviceDetail, DeviceList, HistoryEntry, Principal, Series, TimelineEvent } from '../../broker/api/types.ts'
export type Severity = Alarm['severity']
export type Location = NonNullable<Alarm['location']>
export type FieldInfo = DeviceDetail['fields'][number]
