// kindJsonSchema: a DeviceKind in; the JSON Schema (draft 2020-12) of one reading of that kind out,
// for firmware teams (`citygw schema <kind>`). Derived from the same zod schema the gateway validates
// with, so the document cannot drift from what is accepted.
import { z } from 'zod'
import type { DeviceKind } from './define-kind.ts'

/** The JSON Schema of one reading; a message is this object or an array of 1–100 of them. */
export function kindJsonSchema (kind: DeviceKind): Record<string, unknown> {
  const generated = z.toJSONSchema(kind.schema, {
    target: 'draft-2020-12',
    // What a device may send, not what the gateway keeps: unknown keys are allowed (and ignored).
    io: 'input',
    override: appendUnit,
  })
  const { $schema, ...rest } = generated
  return {
    $schema,
    title: `${kind.name} reading`,
    description: `One telemetry reading of a ${kind.name} device, published to devices/{id}/telemetry as this ` +
      'object or as an array of 1–100 of them. SI units. A field not listed here is ignored and reported ' +
      'to the device on devices/{id}/errors; a listed field with a wrong type or out of range makes the reading invalid.',
    ...rest,
  }
}

/** Puts the unit into the description too: many schema viewers show only standard keywords. */
function appendUnit (ctx: { jsonSchema: Record<string, unknown> }): void {
  const { jsonSchema } = ctx
  const { unit, description } = jsonSchema
  if (typeof unit === 'string' && typeof description === 'string' && unit !== '1') {
    jsonSchema.description = `${description} [${unit}]`
  }
}
