// The single-gateway quarantine: JSON lines appended in order to a file only its owner can read.
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createFileQuarantine } from '../../../broker/influx/quarantine-file.ts'
import { makeTempDir, removeTempDir } from '../../helpers/server-process.ts'

const dirs: string[] = []
afterEach(async () => {
  for (const dir of dirs.splice(0)) await removeTempDir(dir)
})

describe('file quarantine', () => {
  it('appends one JSON object per entry, in order, to a file of mode 0600', async () => {
    const dir = await makeTempDir('csg-quarantine-')
    dirs.push(dir)
    const path = join(dir, 'quarantine.jsonl')
    const quarantine = createFileQuarantine(path)
    const first = { tsMs: 1, reason: 'field type conflict', line: 'm,device_id=a f=1.5 1' }
    const second = { tsMs: 2, reason: 'unable to parse', line: 'not "line" protocol\\' }
    await quarantine.add(first)
    await quarantine.add(second)
    const text = await readFile(path, 'utf8')
    expect(text.endsWith('\n')).toBe(true)
    expect(text.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual([first, second])
    expect((await stat(path)).mode & 0o777).toBe(0o600)
  })
})
