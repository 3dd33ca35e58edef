import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { connectionCap, readOpenFileLimit } from '../../../broker/mqtt/open-file-limit.ts'

/** The shape of /proc/<pid>/limits. */
const LIMITS = [
  'Limit                     Soft Limit           Hard Limit           Units     ',
  'Max cpu time              unlimited            unlimited            seconds   ',
  'Max open files            20000                65536                files     ',
  'Max locked memory         8388608              8388608              bytes     ',
  '',
].join('\n')

it('reads the soft open-file limit, and nothing where it is unlimited or unreadable', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citygw-limits-'))
  writeFileSync(join(dir, 'limits'), LIMITS)
  expect(readOpenFileLimit(join(dir, 'limits'))).toBe(20000)
  writeFileSync(join(dir, 'unlimited'), LIMITS.replace('20000                65536', 'unlimited            unlimited'))
  expect(readOpenFileLimit(join(dir, 'unlimited'))).toBeUndefined()
  expect(readOpenFileLimit(join(dir, 'missing'))).toBeUndefined()
  expect(readOpenFileLimit()).toBeGreaterThan(0) // this process's own, on Linux
})

it('caps MAX_CONNECTIONS so that the reserve stays free for the spool and the rest', () => {
  expect(connectionCap(50_000, 20_000, 256)).toBe(19_744)
  expect(connectionCap(10_000, 20_000, 256)).toBe(10_000)
  expect(connectionCap(50_000, undefined, 256)).toBe(50_000)
  expect(connectionCap(50_000, 100, 256)).toBe(1)
})
