import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { coarsen, locationFor, seesDevice, seesField, type ConsumerScope } from '../../../broker/consumers/scope.ts'

function metresBetween (a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const rad = Math.PI / 180
  const x = (b.lon - a.lon) * rad * Math.cos((a.lat + b.lat) / 2 * rad)
  const y = (b.lat - a.lat) * rad
  return Math.sqrt(x * x + y * y) * 6_371_000
}

describe('consumer scope', () => {
  it('snaps every point to its cell centre, within about half a cell diagonal, and the same centre again', () => {
    fc.assert(fc.property(fc.double({ min: -80, max: 80, noNaN: true }), fc.double({ min: -179, max: 179, noNaN: true }), (lat, lon) => {
      const centre = coarsen(lat, lon)
      expect(metresBetween({ lat, lon }, centre)).toBeLessThan(400)
      expect(coarsen(centre.lat, centre.lon)).toEqual(centre)
    }))
  })

  it('gives nearby points of one cell the same centre, so a point is not recoverable', () => {
    const a = coarsen(52.520008, 13.404954)
    const b = coarsen(52.520108, 13.405054)
    expect(a).toEqual(b)
  })

  it('keeps exact locations without a scope and drops them for location none', () => {
    expect(locationFor(undefined, 52.5, 13.4)).toEqual({ lat: 52.5, lon: 13.4 })
    expect(locationFor({ location: 'none' }, 52.5, 13.4)).toBeUndefined()
    expect(locationFor({ location: 'coarse' }, 52.5, 13.4)).toEqual(coarsen(52.5, 13.4))
  })

  it('filters by district, kind and field', () => {
    const scope: ConsumerScope = { districts: ['north'], kinds: ['lamp-post'], fields: ['activePower'], location: 'exact' }
    expect(seesDevice(scope, { kind: 'lamp-post', district: 'north' })).toBe(true)
    expect(seesDevice(scope, { kind: 'lamp-post', district: 'south' })).toBe(false)
    expect(seesDevice(scope, { kind: 'manhole', district: 'north' })).toBe(false)
    expect(seesField(scope, 'activePower')).toBe(true)
    expect(seesField(scope, 'supplyVoltage')).toBe(false)
  })
})
