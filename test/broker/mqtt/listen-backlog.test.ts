import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { listenBacklog } from '../../../broker/mqtt/listen-backlog.ts'

const dir = mkdtempSync(join(tmpdir(), 'citygw-somaxconn-'))
function somaxconnFile (text: string): string {
  const file = join(dir, `somaxconn-${Math.random()}`)
  writeFileSync(file, text)
  return file
}

it('caps the wanted backlog at net.core.somaxconn', () => {
  expect(listenBacklog(50_000, somaxconnFile('4096\n'))).toEqual({ backlog: 4096, wanted: 50_000, somaxconn: 4096 })
})

it('keeps a backlog below the cap as asked', () => {
  expect(listenBacklog(2000, somaxconnFile('4096\n'))).toEqual({ backlog: 2000, wanted: 2000, somaxconn: 4096 })
})

it('asks for the wanted backlog where somaxconn cannot be read', () => {
  expect(listenBacklog(50_000, join(dir, 'missing'))).toEqual({ backlog: 50_000, wanted: 50_000, somaxconn: undefined })
  expect(listenBacklog(50_000, somaxconnFile('not a number'))).toEqual({ backlog: 50_000, wanted: 50_000, somaxconn: undefined })
})
