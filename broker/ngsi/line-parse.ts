// Enters: one line of InfluxDB line protocol as the spool holds it (written by influx/line-protocol.ts).
// Leaves: measurement, tags, typed fields and the ms timestamp, or undefined for a line that does not
// parse. Pure; reverses exactly the escaping that encoder applies.

export type LineValue = number | boolean | string

export interface ParsedLine {
  readonly measurement: string
  readonly tags: Readonly<Record<string, string>>
  readonly fields: Readonly<Record<string, LineValue>>
  readonly tsMs: number
}

/** Reads up to (not including) an unescaped character of `stops`; returns the unescaped text and where it stopped. */
function readName (line: string, at: number, stops: string): { text: string, end: number } {
  let text = ''
  let i = at
  while (i < line.length) {
    const ch = line[i] as string
    if (ch === '\\' && i + 1 < line.length) {
      text += line[i + 1]
      i += 2
      continue
    }
    if (stops.includes(ch)) break
    text += ch
    i++
  }
  return { text, end: i }
}

function readValue (line: string, at: number): { value: LineValue, end: number } | undefined {
  if (line[at] === '"') {
    // A string field's escapes are a name's: an escaped character stands for itself.
    const quoted = readName(line, at + 1, '"')
    return quoted.end < line.length ? { value: quoted.text, end: quoted.end + 1 } : undefined
  }
  let i = at
  while (i < line.length && line[i] !== ',' && line[i] !== ' ') i++
  const raw = line.slice(at, i)
  if (raw === 'true' || raw === 'false') return { value: raw === 'true', end: i }
  const number = Number(raw.endsWith('i') ? raw.slice(0, -1) : raw)
  if (raw === '' || !Number.isFinite(number)) return undefined
  return { value: number, end: i }
}

export function parseLine (line: string): ParsedLine | undefined {
  const head = readName(line, 0, ', ')
  if (head.text === '') return undefined
  // Without a prototype: a key such as `__proto__` is a plain entry, never the object's prototype.
  const tags: Record<string, string> = Object.create(null) as Record<string, string>
  let i = head.end
  while (line[i] === ',') {
    const key = readName(line, i + 1, '=')
    if (line[key.end] !== '=') return undefined
    const value = readName(line, key.end + 1, ', ')
    tags[key.text] = value.text
    i = value.end
  }
  if (line[i] !== ' ') return undefined
  const fields: Record<string, LineValue> = Object.create(null) as Record<string, LineValue>
  i++
  for (;;) {
    const key = readName(line, i, '=')
    if (line[key.end] !== '=' || key.text === '') return undefined
    const value = readValue(line, key.end + 1)
    if (value === undefined) return undefined
    fields[key.text] = value.value
    i = value.end
    if (line[i] === ',') {
      i++
      continue
    }
    break
  }
  if (line[i] !== ' ') return undefined
  const tsMs = Number(line.slice(i + 1))
  if (!Number.isSafeInteger(tsMs)) return undefined
  return { measurement: head.text, tags, fields, tsMs }
}
