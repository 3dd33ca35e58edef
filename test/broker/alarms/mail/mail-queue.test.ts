import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openMailQueue, type QueuedMail } from '../../../../broker/alarms/mail/mail-queue.ts'
import { makeTempDir, removeTempDir } from '../../../helpers/server-process.ts'

function mail (alarmId: string): QueuedMail {
  return { version: 1, kind: 'raised', ref: { alarmId, deviceId: 'mh-1', district: 'north' }, to: ['a@city.example'], subject: `s ${alarmId}`, text: 't', queuedAt: new Date().toISOString() }
}

describe('mail queue', () => {
  let dir: string
  beforeAll(async () => { dir = await makeTempDir('citygw-mail-queue-') })
  afterAll(async () => { await removeTempDir(dir) })

  it('keeps mails in order across a reopen, drops the oldest not being sent when full, and forgets unfinished writes', async () => {
    const lines: Record<string, unknown>[] = []
    const log = pino({ level: 'info' }, { write (line: string) { lines.push(JSON.parse(line) as Record<string, unknown>) } })
    const dropped: string[] = []
    const queue = await openMailQueue({ dir, maxQueued: 3, log, onDropped (entry) { dropped.push(entry.ref.alarmId ?? '') } })
    for (const id of ['a', 'b', 'c']) expect(await queue.add(mail(id))).toBe(true)
    queue.setBusy(queue.oldest()) // 'a' is being sent: 'b' goes for room
    expect(await queue.add(mail('d'))).toBe(true)
    expect(dropped).toEqual(['b'])
    expect(lines.find((l) => l.msg === 'mail queue full; dropped the oldest mail')).toMatchObject({ alarmId: 'b', recipients: 1, maxQueued: 3 })
    expect(queue.depth()).toBe(3)

    await writeFile(join(dir, 'x.tmp'), 'half')
    await writeFile(join(dir, '999999999999999-000000000.mail.json'), '{"not":"a mail"}')
    const reopened = await openMailQueue({ dir, maxQueued: 3, log })
    const order: string[] = []
    for (let entry = reopened.oldest(); entry !== undefined; entry = reopened.oldest()) {
      order.push((await reopened.read(entry))?.ref.alarmId ?? '')
      await reopened.remove(entry)
    }
    expect(order).toEqual(['a', 'c', 'd'])
    expect(await readdir(dir)).toEqual([])
  })
})
