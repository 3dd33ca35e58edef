// Alarm e-mail through a real SMTP server (python3-aiosmtpd, with AUTH) and the real gateway: a raise
// mails the district's recipients for its severity (rules file `mail`), readable on a phone; a
// severity without recipients mails no one; a reload of the rules file changes recipients; the
// SMTP credentials never reach a log or the disk; mail waits in DATA_DIR/mail-queue while the
// server is down — ingest carries on — and goes out when it is back, after a gateway restart too.
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addDevice } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { createDevicePublisher, type DevicePublisher } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { startSmtpServer, type ReceivedMail, type SmtpServer } from '../helpers/smtp.ts'
import { eventually } from '../helpers/wait.ts'

const SMTP_USER = 'gw-mailer'
const SMTP_PASSWORD = 'Sm7p-pa55word-xyzzy'

const RULES = `
mail:
  default:
    critical: [duty@city.example]
    major: [duty@city.example]
  districts:
    north:
      critical: [north-crew@city.example, supervisor@city.example]
      major: []
    east:
      critical: [refuse-all@city.example]
      major: [refuse-one@city.example, east-crew@city.example]
`

async function metric (gw: TestGateway, pattern: RegExp): Promise<number> {
  return Number(pattern.exec(await (await fetch(`${gw.httpUrl}/metrics`)).text())?.[1] ?? 0)
}

async function mailsFor (smtp: SmtpServer, deviceId: string): Promise<ReceivedMail[]> {
  return (await smtp.received()).filter((m) => m.subject.includes(` ${deviceId} `))
}

describe('alarm e-mail', () => {
  let smtp: SmtpServer
  let gw: TestGateway
  let devices: DevicePublisher
  let rulesDir: string
  let rulesFile: string
  const secrets: Record<string, string> = {}

  beforeAll(async () => {
    smtp = await startSmtpServer({ user: SMTP_USER, password: SMTP_PASSWORD })
    rulesDir = await makeTempDir('citygw-mail-rules-')
    rulesFile = join(rulesDir, 'rules.yaml')
    await writeFile(rulesFile, RULES)
    gw = await startTestGateway({
      env: {
        ALARM_RULES_FILE: rulesFile,
        SMTP_URL: smtp.url,
        SMTP_FROM: 'City sensors <alarms@city.example>',
        CONSOLE_URL: 'https://console.city.example/',
      },
    })
    for (const [id, district, location] of [
      ['mh-canal-1', 'north', { lat: 52.371234, lon: 4.891234 }],
      ['mh-canal-2', 'north', undefined],
      ['mh-canal-3', 'north', undefined],
      ['mh-dock-1', 'south', undefined],
      ['mh-east-1', 'east', undefined],
      ['mh-east-2', 'east', undefined],
    ] as const) {
      secrets[id] = (await addDevice(registryPath(gw.dataDir), { id, kind: 'manhole', district, ...location })).secret
    }
    await gw.gateway.reloadRegistry()
    devices = createDevicePublisher(() => gw.mqttUrl, secrets)
  })
  afterAll(async () => {
    await devices?.close()
    await gw?.close(true)
    await smtp?.close()
    if (rulesDir !== undefined) await removeTempDir(rulesDir)
  })

  it('mails a critical raise to the district\'s critical recipients, with what, where, since when and how to acknowledge', async () => {
    await devices.publish('mh-canal-1', { coverAngle: 120 })
    const [mail] = await eventually(() => mailsFor(smtp, 'mh-canal-1'), (m) => m.length >= 1, { timeoutMs: 10_000, what: 'the cover-open mail' })
    expect(mail!.subject).toBe('[critical] Cover open — mh-canal-1 (north)')
    expect(mail!.to.sort()).toEqual(['north-crew@city.example', 'supervisor@city.example'])
    expect(mail!.from).toBe('alarms@city.example')
    expect(mail!.headerFrom).toBe('City sensors <alarms@city.example>')
    expect(mail!.login).toBe(SMTP_USER)
    const text = mail!.text ?? ''
    expect(text).toContain('Cover open — critical')
    expect(text).toMatch(/Cover is open or lifted: angle 120°/)
    expect(text).toContain('Device: mh-canal-1 (manhole)')
    expect(text).toContain('District: north')
    expect(text).toContain('Navigate: geo:52.371234,4.891234')
    expect(text).toContain('Web map: https://www.openstreetmap.org/?mlat=52.371234&mlon=4.891234#map=19/52.371234/4.891234')
    expect(text).toMatch(/Since: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/)
    expect(text).toContain('- in the console: https://console.city.example/#/')
    expect(text).toContain('publish {"note":"…"} to alarms/north/manhole/mh-canal-1/coverOpen/ack')
    const alarms = await (await fetch(`${gw.httpUrl}/metrics`)).text()
    expect(alarms).toMatch(/^citygw_mail_sent_total 1$/m)
    expect(alarms).toMatch(/^citygw_mail_queue_depth 0$/m)

    const logLine = gw.logs().find((l) => l.msg === 'mail sent')
    expect(logLine).toMatchObject({ deviceId: 'mh-canal-1', recipients: 2 })
    expect(typeof logLine?.alarmId).toBe('string')
    expect(text).toContain(`Alarm id: ${String(logLine?.alarmId)}`)
  })

  it('mails no one for a severity the district has no recipients for, and the default recipients elsewhere', async () => {
    // north names `major: []`: no mail, although the default has major recipients; south has the default's.
    await devices.publish('mh-canal-2', { coverAngle: 1, waterLevel: 1.2 })
    await devices.publish('mh-dock-1', { coverAngle: 1, waterLevel: 1.2 })
    const [south] = await eventually(() => mailsFor(smtp, 'mh-dock-1'), (m) => m.length >= 1, { timeoutMs: 10_000, what: 'the south high-water mail' })
    expect(south!.subject).toBe('[major] High water — mh-dock-1 (south)')
    expect(south!.to).toEqual(['duty@city.example'])
    expect(south!.text).toContain('Position: not registered')
    // Mails go out in the order they were queued: had the north raise been mailed, it would be here by now.
    expect(await mailsFor(smtp, 'mh-canal-2')).toEqual([])
    expect(gw.logs().filter((l) => l.msg === 'alarm raised' && l.deviceId === 'mh-canal-2')).toHaveLength(1)
  })

  it('follows the rules file when it changes', async () => {
    await writeFile(rulesFile, RULES.replace('[north-crew@city.example, supervisor@city.example]', '[night-shift@city.example]'))
    await eventually(() => gw.logs().filter((l) => l.msg === 'alarm rules reloaded').length, (n) => n >= 1, { timeoutMs: 5000, what: 'the rules reload' })
    await devices.publish('mh-canal-3', { coverAngle: 120 })
    const [mail] = await eventually(() => mailsFor(smtp, 'mh-canal-3'), (m) => m.length >= 1, { timeoutMs: 10_000, what: 'the mail after the reload' })
    expect(mail!.to).toEqual(['night-shift@city.example'])
  })

  it('a bad mail address in the rules file is refused, naming its path, and the recipients in force stay', async () => {
    const reloads = gw.logs().filter((l) => l.msg === 'alarm rules file refused; keeping the rules in force').length
    await writeFile(rulesFile, RULES.replace('north-crew@city.example', 'north-crew-at-city'))
    const refused = await eventually(() => gw.logs().filter((l) => l.msg === 'alarm rules file refused; keeping the rules in force'), (l) => l.length > reloads, { timeoutMs: 5000, what: 'the refusal' })
    expect(JSON.stringify(refused.at(-1))).toContain('mail.districts.north.critical.0: must be an e-mail address')
  })

  it('drops a mail the server refuses for good and goes on with the next; one refused recipient of several does not stop a mail', async () => {
    // The test server answers 550 to recipients starting with "refuse".
    await devices.publish('mh-east-1', { coverAngle: 120 })
    await devices.publish('mh-east-2', { coverAngle: 1, waterLevel: 1.2 })
    const [mail] = await eventually(() => mailsFor(smtp, 'mh-east-2'), (m) => m.length >= 1, { timeoutMs: 10_000, what: 'the east high-water mail' })
    expect(mail!.to).toEqual(['east-crew@city.example'])
    expect(await mailsFor(smtp, 'mh-east-1')).toEqual([])
    expect(gw.logs().find((l) => l.msg === 'mail refused by the mail server; dropped')).toMatchObject({ deviceId: 'mh-east-1', recipients: 1, err: { responseCode: 550 } })
    expect(gw.logs().find((l) => l.msg === 'mail sent; some recipients refused')).toMatchObject({ deviceId: 'mh-east-2', recipients: 2, rejected: 1 })
    expect(await metric(gw, /^citygw_mail_failed_total\{reason="refused"\} (\d+)/m)).toBe(1)
  })

  it('never writes the SMTP credentials to a log or to DATA_DIR', async () => {
    const logs = JSON.stringify(gw.logs())
    expect(logs).not.toContain(SMTP_PASSWORD)
    expect(logs).not.toContain(smtp.url)
    const queueDir = join(gw.dataDir, 'mail-queue')
    for (const name of await readdir(gw.dataDir)) {
      if (name.endsWith('.log')) continue
      const path = join(gw.dataDir, name)
      const text = await readFile(path, 'utf8').catch(() => '')
      expect(text, path).not.toContain(SMTP_PASSWORD)
    }
    expect(await readdir(queueDir)).toEqual([])
  })
})

describe('alarm e-mail while the mail server is down', () => {
  let smtp: SmtpServer
  let gw: TestGateway
  let dataDir: string
  let devices: DevicePublisher
  let rulesDir: string
  const secrets: Record<string, string> = {}

  async function startGateway (): Promise<TestGateway> {
    return startTestGateway({
      dataDir,
      env: {
        ALARM_RULES_FILE: join(rulesDir, 'rules.yaml'),
        SMTP_URL: smtp.url,
        SMTP_FROM: 'alarms@city.example',
        // Short backoff: the test's outages last seconds.
        SMTP_RETRY_MAX_MS: '1000',
      },
    })
  }

  beforeAll(async () => {
    smtp = await startSmtpServer({ user: SMTP_USER, password: SMTP_PASSWORD })
    rulesDir = await makeTempDir('citygw-mail-rules-')
    await writeFile(join(rulesDir, 'rules.yaml'), RULES)
    dataDir = await makeTempDir('citygw-data-')
    gw = await startGateway()
    for (const id of ['mh-out-1', 'mh-out-2']) secrets[id] = (await addDevice(registryPath(dataDir), { id, kind: 'manhole', district: 'north' })).secret
    await gw.gateway.reloadRegistry()
    devices = createDevicePublisher(() => gw.mqttUrl, secrets)
  })
  afterAll(async () => {
    await devices?.close()
    await gw?.close(true)
    await smtp?.close()
    if (rulesDir !== undefined) await removeTempDir(rulesDir)
  })

  it('queues the mail on disk, keeps ingesting, and sends it once the server is back', async () => {
    await smtp.stop()
    await devices.publish('mh-out-1', { coverAngle: 120 })
    await eventually(() => metric(gw, /^citygw_mail_failed_total\{reason="transient"\} (\d+)/m), (n) => n >= 1, { timeoutMs: 10_000, what: 'a failed attempt' })
    expect(await metric(gw, /^citygw_mail_queue_depth (\d+)/m)).toBe(1)
    expect((await readdir(join(dataDir, 'mail-queue'))).filter((n) => n.endsWith('.mail.json'))).toHaveLength(1)
    expect(gw.logs().filter((l) => l.msg === 'mail not sent, retrying')).toHaveLength(1)
    expect(JSON.stringify(gw.logs())).not.toContain(SMTP_PASSWORD)

    // Ingest does not wait for mail: every reading is acknowledged (QoS 1) and accepted.
    const acceptedBefore = await metric(gw, /^citygw_readings_total\{outcome="accepted"\} (\d+)/m)
    for (let i = 0; i < 20; i++) await devices.publish('mh-out-1', { coverAngle: 120 })
    expect(await metric(gw, /^citygw_readings_total\{outcome="accepted"\} (\d+)/m)).toBe(acceptedBefore + 20)

    await smtp.start()
    const [mail] = await eventually(() => mailsFor(smtp, 'mh-out-1'), (m) => m.length >= 1, { timeoutMs: 15_000, what: 'the mail after the outage' })
    expect(mail!.subject).toBe('[critical] Cover open — mh-out-1 (north)')
    await eventually(() => metric(gw, /^citygw_mail_queue_depth (\d+)/m), (n) => n === 0, { timeoutMs: 5000, what: 'an empty queue' })
    expect((await readdir(join(dataDir, 'mail-queue'))).filter((n) => n.endsWith('.mail.json'))).toEqual([])
    expect(await mailsFor(smtp, 'mh-out-1')).toHaveLength(1)
  })

  it('sends mail queued before a restart after the restart', async () => {
    await smtp.stop()
    await devices.publish('mh-out-2', { coverAngle: 120 })
    await eventually(() => metric(gw, /^citygw_mail_failed_total\{reason="transient"\} (\d+)/m), (n) => n >= 2, { timeoutMs: 10_000, what: 'a failed attempt' })
    await devices.close()
    await gw.close()
    expect((await readdir(join(dataDir, 'mail-queue'))).filter((n) => n.endsWith('.mail.json'))).toHaveLength(1)

    await smtp.start()
    gw = await startGateway()
    const [mail] = await eventually(() => mailsFor(smtp, 'mh-out-2'), (m) => m.length >= 1, { timeoutMs: 15_000, what: 'the mail after the restart' })
    expect(mail!.subject).toBe('[critical] Cover open — mh-out-2 (north)')
    expect(gw.logs().some((l) => l.msg === 'queued mails found; sending them' && l.queued === 1)).toBe(true)
    expect(JSON.stringify(gw.logs())).not.toContain(SMTP_PASSWORD)
  })
})

describe('alarm e-mail with wrong SMTP credentials', () => {
  const WRONG_PASSWORD = 'Wr0ng-pa55word-plugh'
  let smtp: SmtpServer
  let gw: TestGateway
  let devices: DevicePublisher
  let rulesDir: string

  beforeAll(async () => {
    smtp = await startSmtpServer({ user: SMTP_USER, password: SMTP_PASSWORD })
    rulesDir = await makeTempDir('citygw-mail-rules-')
    await writeFile(join(rulesDir, 'rules.yaml'), RULES)
    gw = await startTestGateway({
      env: { ALARM_RULES_FILE: join(rulesDir, 'rules.yaml'), SMTP_URL: smtp.url.replace(SMTP_PASSWORD, WRONG_PASSWORD), SMTP_FROM: 'alarms@city.example', SMTP_RETRY_MAX_MS: '1000' },
    })
    const { secret } = await addDevice(registryPath(gw.dataDir), { id: 'mh-auth-1', kind: 'manhole', district: 'north' })
    await gw.gateway.reloadRegistry()
    devices = createDevicePublisher(() => gw.mqttUrl, { 'mh-auth-1': secret })
  })
  afterAll(async () => {
    await devices?.close()
    await gw?.close(true)
    await smtp?.close()
    if (rulesDir !== undefined) await removeTempDir(rulesDir)
  })

  it('keeps the mail queued and retries, and logs the refusal without the credentials', async () => {
    await devices.publish('mh-auth-1', { coverAngle: 120 })
    const [line] = await eventually(() => gw.logs().filter((l) => l.msg === 'mail not sent, retrying'), (l) => l.length >= 1, { timeoutMs: 10_000, what: 'the refused login' })
    expect(line).toMatchObject({ deviceId: 'mh-auth-1', err: { code: 'EAUTH', responseCode: 535 } })
    await eventually(() => metric(gw, /^citygw_mail_failed_total\{reason="transient"\} (\d+)/m), (n) => n >= 2, { timeoutMs: 10_000, what: 'a second attempt' })
    expect(await metric(gw, /^citygw_mail_queue_depth (\d+)/m)).toBe(1)
    expect(await smtp.received()).toEqual([])
    const logs = JSON.stringify(gw.logs())
    expect(logs).not.toContain(WRONG_PASSWORD)
    expect(logs).not.toContain(SMTP_USER)
  })
})
