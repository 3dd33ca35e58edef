// SensorThings topics against a consumer scope: a Datastream or Thing topic of a visible device and
// field passes; wildcards and collection topics only for a scope that hides nothing; nothing else.
import { describe, expect, it } from 'vitest'
import { isStaTopicInScope, staTopicSubject } from '../../../broker/consumers/sta-topics.ts'
import type { ConsumerScope } from '../../../broker/consumers/scope.ts'

const devices: Record<string, { kind: string; district: string }> = {
  'lp-n': { kind: 'lamp-post', district: 'north' },
  'lp-s': { kind: 'lamp-post', district: 'south' },
  'mh-n': { kind: 'manhole', district: 'north' },
}
const registry = { getDevice (id: string) { return devices[id] as never } }
const portal: ConsumerScope = { districts: ['north'], kinds: ['lamp-post'], fields: ['activePower'], location: 'coarse' }
const everything: ConsumerScope = { location: 'exact' }

describe('SensorThings topics against a scope', () => {
  it('reads the device and field a Datastream or Thing topic names', () => {
    expect(staTopicSubject("v1.1/Datastreams('lp-n:activePower')/Observations")).toEqual({ deviceId: 'lp-n', field: 'activePower' })
    expect(staTopicSubject('v1.1/Datastreams(lp-n:activePower)/Observations')).toEqual({ deviceId: 'lp-n', field: 'activePower' })
    expect(staTopicSubject("v1.1/Things('lp-n')")).toEqual({ deviceId: 'lp-n', field: undefined })
    expect(staTopicSubject("v1.1/Datastreams('+')/Observations")).toBeUndefined()
    expect(staTopicSubject('v1.1/Observations')).toBeUndefined()
  })

  it('lets a scoped consumer have only its devices and fields', () => {
    expect(isStaTopicInScope(portal, registry, "v1.1/Datastreams('lp-n:activePower')/Observations")).toBe(true)
    expect(isStaTopicInScope(portal, registry, "v1.1/Datastreams('lp-n:commandedLevel')/Observations")).toBe(false)
    expect(isStaTopicInScope(portal, registry, "v1.1/Datastreams('lp-s:activePower')/Observations")).toBe(false)
    expect(isStaTopicInScope(portal, registry, "v1.1/Datastreams('mh-n:coverAngle')/Observations")).toBe(false)
    expect(isStaTopicInScope(portal, registry, "v1.1/Datastreams('nope:activePower')/Observations")).toBe(false)
    expect(isStaTopicInScope(portal, registry, "v1.1/Things('lp-n')/Locations")).toBe(true)
  })

  it('gives wildcards and collection topics only to a scope that hides nothing', () => {
    for (const topic of ['v1.1/#', 'v1.1/Observations', 'v1.1/Datastreams(+)/Observations', "v1.1/Datastreams('+')/Observations"]) {
      expect(isStaTopicInScope(portal, registry, topic)).toBe(false)
      expect(isStaTopicInScope(everything, registry, topic)).toBe(true)
    }
    expect(isStaTopicInScope({ location: 'coarse' }, registry, 'v1.1/Observations')).toBe(false)
  })

  it('refuses everything outside v1.1/', () => {
    for (const topic of ['alarms/#', 'devices/#', '#', 'devices/lp-n/telemetry', 'v1.0/Observations']) {
      expect(isStaTopicInScope(everything, registry, topic)).toBe(false)
    }
  })
})
