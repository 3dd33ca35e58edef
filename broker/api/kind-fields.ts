// A kind's stored fields as the API describes them: name, label, InfluxDB type, unit and description
// from the kind's schema metadata (devices/), in the kind's order.
import { getKind } from '../../devices/index.ts'

export interface FieldInfo { name: string; label: string; type: 'integer' | 'float' | 'boolean'; unit?: string; description?: string }

/** The kind's stored fields in order, with label, unit and description from the schema's metadata. */
export function fieldsOf (kindName: string): FieldInfo[] {
  const kind = getKind(kindName)
  if (kind === undefined) return []
  const shape = kind.schema.shape as Record<string, { meta?: () => Record<string, unknown> | undefined }>
  return kind.fieldNames.map(function describeField (name) {
    const meta = shape[name]?.meta?.() ?? {}
    const info: FieldInfo = { name, label: typeof meta.label === 'string' ? meta.label : spelledOut(name), type: kind.fieldTypes[name] ?? 'float' }
    if (typeof meta.unit === 'string') info.unit = meta.unit
    if (typeof meta.description === 'string') info.description = meta.description
    return info
  })
}

/** `coverAngle` → "Cover angle". */
function spelledOut (name: string): string {
  const words = name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase()
  return words.charAt(0).toUpperCase() + words.slice(1)
}
