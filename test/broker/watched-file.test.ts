// The polled file watch on a real temp file: a rewrite and an atomic replacement are each seen,
// an untouched file is not, and nothing is seen after close.
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { watchFileChanges, type WatchedFile } from '../../broker/watched-file.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

const POLL_MS = 20

describe('watchFileChanges', () => {
  let dir: string
  let file: string
  let watched: WatchedFile | undefined
  beforeEach(async () => {
    dir = await makeTempDir('csg-watched-file-')
    file = join(dir, 'watched.json')
    await writeFile(file, '{}')
  })
  afterEach(async () => {
    watched?.close()
    await removeTempDir(dir)
  })

  it('calls back once the file is rewritten, and not while it is left alone', async () => {
    let changes = 0
    watched = watchFileChanges(file, POLL_MS, () => { changes++ })
    await new Promise((resolve) => setTimeout(resolve, POLL_MS * 5))
    expect(changes).toBe(0)
    await writeFile(file, '{"a":1}')
    await eventually(() => changes, (n) => n >= 1, { what: 'the rewrite', intervalMs: 10, timeoutMs: 5000 })
  })

  it('sees a replacement by rename (what the CLI does)', async () => {
    let changes = 0
    watched = watchFileChanges(file, POLL_MS, () => { changes++ })
    const next = join(dir, 'watched.json.tmp')
    await writeFile(next, '{"b":2}')
    await rename(next, file)
    await eventually(() => changes, (n) => n >= 1, { what: 'the replacement', intervalMs: 10, timeoutMs: 5000 })
  })

  it('stops calling back after close', async () => {
    let changes = 0
    watched = watchFileChanges(file, POLL_MS, () => { changes++ })
    watched.close()
    await writeFile(file, '{"c":3}')
    await new Promise((resolve) => setTimeout(resolve, POLL_MS * 10))
    expect(changes).toBe(0)
  })
})
