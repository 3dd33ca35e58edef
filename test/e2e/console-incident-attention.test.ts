// The console's attention for incidents and the live flapping badge, in real Chromium against a real
// gateway and MQTT.js lamp posts: three lamp posts of one feeder report earth leakage (critical) →
// one sound and one notification for the new critical incident, none for its member alarms (the
// single alarm before the threshold still notifies as usual); a door switch that starts flapping
// while the page is open gets its "flapping" badge from the alarm stream, without a reload of the list.
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addDevice } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { BROWSER_TEST_TIMEOUT_MS, closeChromium, hasChromium, launchChromium, PHONE } from '../helpers/browser.ts'
import { REPO_ROOT, registerCrew, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { createDevicePublisher, type DevicePublisher } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'

const RULES = `
incidents: { minDevices: 2, windowSec: 60 }
flapping: { raises: 1, withinSec: 600 }
`
const LIT = { commandedLevel: 0, supplyVoltage: 230, activePower: 0 }

/** Records what the page does to get attention (runs before the console's own scripts). */
const RECORD_ATTENTION = `(() => {
  const calls = window.attentionCalls = []
  const start = OscillatorNode.prototype.start
  let isToneCounted = false
  // One tone is three oscillators started in one go: counted once.
  OscillatorNode.prototype.start = function (...args) {
    if (!isToneCounted) { calls.push('sound'); isToneCounted = true; queueMicrotask(() => { isToneCounted = false }) }
    return start.apply(this, args)
  }
  window.Notification = new Proxy(window.Notification, {
    construct (target, args) { calls.push('notification:' + args[0]); return Reflect.construct(target, args) },
    get (target, property) { const value = Reflect.get(target, property); return typeof value === 'function' ? value.bind(target) : value },
  })
})()`
const ATTENTION_CALLS = 'window.attentionCalls.slice()'

describe.skipIf(!hasChromium)('console attention for incidents, live flapping badge', { timeout: BROWSER_TEST_TIMEOUT_MS }, () => {
  let gw: TestGateway
  let browser: Browser
  let context: BrowserContext
  let rulesDir: string
  let devices: DevicePublisher
  const secrets: Record<string, string> = {}

  async function openConsole (): Promise<Page> {
    context = await browser.newContext({ viewport: PHONE, deviceScaleFactor: 1, serviceWorkers: 'block', permissions: ['notifications'] })
    const page = await context.newPage()
    page.setDefaultTimeout(10_000)
    await page.addInitScript(RECORD_ATTENTION)
    await page.goto(gw.httpUrl)
    await page.getByLabel('Name').fill('crew-north')
    await page.getByLabel('Secret').fill(secrets['crew-north']!)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.locator('.live-live').waitFor()
    return page
  }

  beforeAll(async () => {
    await promisify(execFile)('bash', [join(REPO_ROOT, 'scripts/build-console.sh')], { cwd: REPO_ROOT, timeout: 90_000 })
    rulesDir = await makeTempDir('csg-console-incident-attention-')
    const rulesFile = join(rulesDir, 'rules.yaml')
    await writeFile(rulesFile, RULES)
    gw = await startTestGateway({ env: { ALARM_RULES_FILE: rulesFile } })
    for (let i = 1; i <= 3; i++) secrets[`lp-leak-${i}`] = (await addDevice(registryPath(gw.dataDir), { id: `lp-leak-${i}`, kind: 'lamp-post', district: 'north', group: 'feeder-9' })).secret
    secrets['lp-door'] = (await addDevice(registryPath(gw.dataDir), { id: 'lp-door', kind: 'lamp-post', district: 'north' })).secret
    secrets['crew-north'] = (await registerCrew(gw.dataDir, 'crew-north', ['north'])).secret
    await gw.gateway.reloadRegistry()
    devices = createDevicePublisher(() => gw.mqttUrl, secrets)
    browser = await launchChromium({ notifications: true })
  }, 120_000)

  afterAll(async () => {
    await closeChromium(browser)
    await devices?.close()
    await gw?.close(true)
    if (rulesDir !== undefined) await removeTempDir(rulesDir)
  })

  it('shows the flapping badge from the alarm stream, without reloading the list', async () => {
    const page = await openConsole()
    const listLoads: string[] = []
    page.on('request', (request) => { if (new URL(request.url()).pathname === '/api/alarms') listLoads.push(request.url()) })
    const baseMs = Date.now() - 10_000
    for (let i = 0; i < 2; i++) {
      await devices.publish('lp-door', { ...LIT, doorOpen: true, ts: new Date(baseMs + i * 200).toISOString() })
      await devices.publish('lp-door', { ...LIT, doorOpen: false, ts: new Date(baseMs + i * 200 + 100).toISOString() })
    }
    await page.locator('[data-device-id="lp-door"] .badge.flapping').waitFor({ state: 'visible' })
    expect(listLoads).toEqual([])
    await context.close()
  }, 60_000)

  it('sounds and notifies once for a new critical incident, not for its member alarms', async () => {
    const page = await openConsole()
    const calls = (): Promise<string[]> => page.evaluate<string[]>(ATTENTION_CALLS)
    expect(await calls()).toEqual([])
    for (let i = 1; i <= 3; i++) await devices.publish(`lp-leak-${i}`, { ...LIT, leakage: true })
    await page.locator('.incident', { hasText: 'feeder-9' }).waitFor()
    await expect.poll(calls).toEqual(expect.arrayContaining(['notification:Critical incident: Leakage']))
    // Let the third member's change arrive too.
    await expect.poll(() => page.locator('.incident', { hasText: 'feeder-9' }).textContent()).toContain('3 devices')
    await new Promise((resolve) => setTimeout(resolve, 500))
    const seen = await calls()
    // The first lamp post's alarm went out on its own before the threshold: it notifies as usual.
    expect(seen.filter((c) => c === 'notification:Critical: Leakage')).toHaveLength(1)
    expect(seen.filter((c) => c === 'notification:Critical incident: Leakage')).toHaveLength(1)
    expect(seen.filter((c) => c === 'sound')).toHaveLength(2)
    await context.close()
  }, 60_000)
})
