// The console's incidents in real Chromium against a real gateway and MQTT.js lamp posts: three
// lamp posts of one feeder lose supply → one incident card above the alarm list with its member
// count; "Acknowledge all" acknowledges every member alarm (the gateway has them acknowledged by
// the crew) and the card says so; a flapping alarm's card carries a "flapping" badge; axe-core finds
// no serious violation at phone and desktop size, light and dark. Screenshots in test-artifacts/.
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addDevice } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { basic } from '../helpers/api-client.ts'
import { BROWSER_TEST_TIMEOUT_MS, closeChromium, DESKTOP, hasChromium, launchChromium, PHONE, screenshot, seriousAxeViolations } from '../helpers/browser.ts'
import { REPO_ROOT, registerCrew, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { createDevicePublisher, type DevicePublisher } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

const RULES = `
incidents: { minDevices: 2, windowSec: 60 }
flapping: { raises: 1, withinSec: 600 }
`
const LAMP = { commandedLevel: 0, activePower: 0 }

interface Alarm { deviceId: string; type: string; state: string; ackedBy?: string; flapping?: boolean }

describe.skipIf(!hasChromium)('console incidents in Chromium', { timeout: BROWSER_TEST_TIMEOUT_MS }, () => {
  let gw: TestGateway
  let browser: Browser
  let rulesDir: string
  let devices: DevicePublisher
  const secrets: Record<string, string> = {}

  async function supplyAlarms (): Promise<Alarm[]> {
    const res = await fetch(`${gw.httpUrl}/api/alarms?state=open`, { headers: basic('crew-north', secrets['crew-north']!) })
    return ((await res.json()) as { alarms: Alarm[] }).alarms.filter((a) => a.type === 'supplyLoss')
  }

  async function openConsole (page: Page): Promise<void> {
    await page.goto(gw.httpUrl)
    await page.getByLabel('Name').fill('crew-north')
    await page.getByLabel('Secret').fill(secrets['crew-north']!)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.locator('.live-live').waitFor()
  }

  async function expectAccessible (page: Page): Promise<void> {
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme })
      expect(await seriousAxeViolations(page), colorScheme).toEqual([])
    }
    await page.emulateMedia({ colorScheme: 'light' })
  }

  beforeAll(async () => {
    await promisify(execFile)('bash', [join(REPO_ROOT, 'scripts/build-console.sh')], { cwd: REPO_ROOT, timeout: 90_000 })
    rulesDir = await makeTempDir('csg-console-incidents-')
    const rulesFile = join(rulesDir, 'rules.yaml')
    await writeFile(rulesFile, RULES)
    gw = await startTestGateway({ env: { ALARM_RULES_FILE: rulesFile } })
    for (const size of ['phone', 'desktop']) {
      for (let i = 1; i <= 3; i++) {
        const id = `lp-${size}-${i}`
        secrets[id] = (await addDevice(registryPath(gw.dataDir), { id, kind: 'lamp-post', district: 'north', group: `feeder-${size}` })).secret
      }
      secrets[`lp-${size}-door`] = (await addDevice(registryPath(gw.dataDir), { id: `lp-${size}-door`, kind: 'lamp-post', district: 'north' })).secret
    }
    secrets['crew-north'] = (await registerCrew(gw.dataDir, 'crew-north', ['north'])).secret
    await gw.gateway.reloadRegistry()
    devices = createDevicePublisher(() => gw.mqttUrl, secrets)
    browser = await launchChromium()
  }, 120_000)

  afterAll(async () => {
    await closeChromium(browser)
    await devices?.close()
    await gw?.close(true)
    if (rulesDir !== undefined) await removeTempDir(rulesDir)
  })

  for (const [size, viewport] of [['phone', PHONE], ['desktop', DESKTOP]] as const) {
    it(`shows the incident card, acknowledges all its members, and a flapping badge (${size})`, async () => {
      // A door switch that opens and closes twice, before the page opens: kept open as flapping.
      const baseMs = Date.now() - 10_000
      for (let i = 0; i < 2; i++) {
        await devices.publish(`lp-${size}-door`, { ...LAMP, supplyVoltage: 230, doorOpen: true, ts: new Date(baseMs + i * 200).toISOString() })
        await devices.publish(`lp-${size}-door`, { ...LAMP, supplyVoltage: 230, doorOpen: false, ts: new Date(baseMs + i * 200 + 100).toISOString() })
      }
      const context = await browser.newContext({ viewport, deviceScaleFactor: 1 })
      const page = await context.newPage()
      const errors: string[] = []
      page.on('pageerror', (err) => { errors.push(err.message) })
      await openConsole(page)
      // The incident comes in live.
      for (let i = 1; i <= 3; i++) await devices.publish(`lp-${size}-${i}`, { ...LAMP, supplyVoltage: 0 })

      const card = page.locator('.incident', { hasText: `feeder-${size}` })
      await card.waitFor({ timeout: 10_000 })
      await expect.poll(() => card.textContent()).toContain('3 devices')
      await page.locator(`[data-device-id="lp-${size}-door"] .badge.flapping`).waitFor({ state: 'visible', timeout: 10_000 })
      await expectAccessible(page)
      await screenshot(page, `console-incident-${size}.png`)

      await card.getByRole('button', { name: /Acknowledge all/ }).click()
      const acked = await eventually(supplyAlarms, (alarms) => alarms.filter((a) => a.deviceId.startsWith(`lp-${size}-`)).every((a) => a.state === 'acknowledged'), { what: 'every member acknowledged' })
      expect(acked.filter((a) => a.deviceId.startsWith(`lp-${size}-`))).toHaveLength(3)
      for (const alarm of acked.filter((a) => a.deviceId.startsWith(`lp-${size}-`))) expect(alarm.ackedBy).toBe('crew-north')
      await card.getByText('Acknowledged by crew-north').waitFor({ timeout: 10_000 })
      await expectAccessible(page)
      expect(errors).toEqual([])
      await context.close()
    }, 60_000)
  }
})
