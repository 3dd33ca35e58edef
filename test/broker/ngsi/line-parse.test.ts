// Enters: points encoded by the gateway's own line-protocol encoder, with hostile tags and strings.
// Checks: parseLine gives back exactly the measurement, tags, typed fields and timestamp.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodePoint, type PointField } from '../../../broker/influx/line-protocol.ts'
import { parseLine } from '../../../broker/ngsi/line-parse.ts'

describe('parseLine', () => {
  it('reverses encodePoint for any tags and string, float, integer and boolean fields', () => {
    const name = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !/[\n\r]/.test(s))
    fc.assert(fc.property(
      name,
      fc.dictionary(name, name, { maxKeys: 4 }),
      fc.string({ maxLength: 30 }).filter((s) => !/[\n\r]/.test(s)),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.integer(),
      fc.boolean(),
      fc.integer({ min: 0, max: 2 ** 45 }),
      (measurement, tags, text, float, integer, flag, tsMs) => {
        const fields: PointField[] = [
          { key: 'text', type: 'string', value: text },
          { key: 'float', type: 'float', value: float },
          { key: 'integer', type: 'integer', value: integer },
          { key: 'flag', type: 'boolean', value: flag },
        ]
        const parsed = parseLine(encodePoint(measurement, tags, fields, tsMs))
        const expectedTags = Object.fromEntries(Object.entries(tags).filter(([, v]) => v !== ''))
        expect(parsed).toEqual({ measurement, tags: expectedTags, fields: { text, float: Object.is(float, -0) ? 0 : float, integer, flag }, tsMs })
      },
    ), { numRuns: 300 })
  })

  it('gives undefined for what is not a line', () => {
    for (const line of ['', 'm', 'm ', 'm f=', 'm f=1', 'm,t f=1 x', 'm f="open 1']) expect(parseLine(line)).toBeUndefined()
  })
})
