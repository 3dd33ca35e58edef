// device-silent → deviceOffline: the device stops reporting (stays connected, sends nothing), so
// the gateway's missing-data rule fires after N × the kind's expected interval. With a duration,
// it resumes afterwards and the next reading clears the alarm.
import { defineScenario } from './scenario.ts'

function silence (): { readonly type: 'silent' } {
  return { type: 'silent' }
}

export const deviceSilent = defineScenario({
  name: 'device-silent',
  alarm: 'deviceOffline',
  description: 'the device stops reporting',
  defaultDurationMs: undefined,
  handlers: { 'lamp-post': silence, 'water-pipe': silence, manhole: silence },
})
