// Enters: synthetic line-protocol records. Leaves: vitest bench figures for spool append throughput
// (each append resolves after fdatasync). Run: npx vitest bench --run test/bench/spool.bench.ts
import { rm } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { bench, describe } from 'vitest'
import { openSpool, type Spool } from '../../broker/spool/spool.ts'
import { spoolDefaults } from '../helpers/default-options.ts'

const LINE = 'lamp_post,device_id=lp-000123,district=centre commandedLevel=80i,supplyVoltage=231.4,activePower=74.5 1732550400000'
// One reused scratch dir in the git-ignored .bench/: the worker may exit before the last teardown is done.
const DIR = fileURLToPath(new URL('../../.bench/spool', import.meta.url))
let spool: Spool

// tinybench hooks, run around each bench's warmup and run cycles (vitest's suite hooks do not wrap bench
// tasks). tinybench 2.9 does not await teardown, so the next setup waits for it.
let closing: Promise<void> = Promise.resolve()
const hooks = {
  setup: async (): Promise<void> => {
    await closing
    await rm(DIR, { recursive: true, force: true })
    // Big quota: the bench appends without draining.
    spool = await openSpool({ ...spoolDefaults, dir: DIR, log: pino({ level: 'silent' }), maxBytes: 8 * 1024 ** 3 })
  },
  teardown: (): Promise<void> => {
    const done = spool
    const { fsyncs, appendedRecords } = done.stats()
    process.stderr.write(`${JSON.stringify({ appendedRecords, fsyncs, appendsPerFsync: Math.round(appendedRecords / Math.max(1, fsyncs)) })}\n`)
    closing = done.close()
      .then(() => rm(DIR, { recursive: true, force: true }))
      .catch((err: unknown) => { process.stderr.write(`spool bench teardown failed: ${String(err)}\n`) })
    return closing
  },
}

describe('spool append', () => {
  bench('1 append at a time (one fsync each)', async () => {
    await spool.append([LINE])
  }, { time: 1000, ...hooks })

  bench('1,000 concurrent appends (one group)', async () => {
    await Promise.all(Array.from({ length: 1000 }, () => spool.append([LINE])))
  }, { time: 2000, ...hooks })

  bench('200 devices × 10 appends, each awaiting its PUBACK', async () => {
    await Promise.all(Array.from({ length: 200 }, async () => {
      for (let i = 0; i < 10; i++) await spool.append([LINE])
    }))
  }, { time: 2000, ...hooks })
})
