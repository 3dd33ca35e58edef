// The crew console in real Chromium (Debian's /usr/bin/chromium via playwright-core): a crew signs
// in, a cover lift published by an MQTT.js device appears without reload, is acknowledged, clears
// and leaves the list; another district's crew never sees it. Screenshots go to test-artifacts/.
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addDevice, addOperator } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { BROWSER_TEST_TIMEOUT_MS, closeChromium, DESKTOP, hasChromium, launchChromium, PHONE, screenshot } from '../helpers/browser.ts'
import { REPO_ROOT, registerCrew, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { createDevicePublisher } from '../helpers/mqtt.ts'

const FLEET = [
  { id: 'mh-canal-1', kind: 'manhole', district: 'north', lat: 52.3861, lon: 4.8962 },
  { id: 'mh-canal-2', kind: 'manhole', district: 'north', lat: 52.3839, lon: 4.9021 },
  { id: 'wp-main-7', kind: 'water-pipe', district: 'north', lat: 52.3812, lon: 4.8931 },
  { id: 'lp-dam-3', kind: 'lamp-post', district: 'north', lat: 52.3795, lon: 4.9003 },
  { id: 'mh-park-4', kind: 'manhole', district: 'south', lat: 52.3602, lon: 4.8851 },
  { id: 'lp-park-9', kind: 'lamp-post', district: 'south', lat: 52.3577, lon: 4.8905 },
] as const

describe.skipIf(!hasChromium)('crew console in Chromium', { timeout: BROWSER_TEST_TIMEOUT_MS }, () => {
  let influx: InfluxDb1Server
  let gw: TestGateway
  let browser: Browser
  const secrets: Record<string, string> = {}

  const devices = createDevicePublisher(() => gw.mqttUrl, secrets)
  const publish = devices.publish

  async function openConsole (name: string, viewport: { width: number; height: number }): Promise<Page> {
    const context = await browser.newContext({ viewport, deviceScaleFactor: 1 })
    const page = await context.newPage()
    await page.goto(gw.httpUrl)
    await page.getByLabel('Name').fill(name)
    await page.getByLabel('Secret').fill(secrets[name]!)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.locator('.live-live').waitFor()
    return page
  }


  beforeAll(async () => {
    await promisify(execFile)('bash', [join(REPO_ROOT, 'scripts/build-console.sh')], { cwd: REPO_ROOT, timeout: 60_000 })
    influx = await startInfluxDb1()
    gw = await startTestGateway({ env: { INFLUX_URL: influx.url, INFLUX_API: 'v1' } })
    for (const device of FLEET) secrets[device.id] = (await addDevice(registryPath(gw.dataDir), device)).secret
    secrets['crew-north'] = (await registerCrew(gw.dataDir, 'crew-north', ['north'])).secret
    secrets['crew-south'] = (await registerCrew(gw.dataDir, 'crew-south', ['south'])).secret
    secrets.ops = (await addOperator(registryPath(gw.dataDir), 'ops')).secret
    await gw.gateway.reloadRegistry()
    browser = await launchChromium()
    // An hour of history for the charts, and some live devices.
    const now = Date.now()
    await publish('wp-main-7', Array.from({ length: 60 }, (_, i) => ({ ts: now - (60 - i) * 60_000, pressure: 420 + 30 * Math.sin(i / 6) + (i % 7), flowRate: 30 + i / 4, waterTemp: 11.5, battery: 87 })))
    await publish('lp-dam-3', { commandedLevel: 80, actualLevel: 79, supplyVoltage: 231.4, activePower: 64.2, gearTemp: 38 })
    await publish('mh-canal-2', { coverAngle: 1.5, waterLevel: 0.4, h2s: 0.3, battery: 76 })
    await publish('lp-park-9', { commandedLevel: 0, supplyVoltage: 229.8, activePower: 0.8 })
  }, 90_000)

  afterAll(async () => {
    await closeChromium(browser)
    await devices.close()
    await gw?.close(true)
    await influx?.close()
  })

  it('shows a cover lift live, acknowledges it, and drops it when it clears; the south crew never sees it', async () => {
    const north = await openConsole('crew-north', PHONE)
    const south = await openConsole('crew-south', PHONE)
    await expect.poll(() => north.locator('.empty').textContent()).toContain('No open alarms')
    await screenshot(north, 'console-phone-empty.png')

    await publish('mh-canal-1', { coverAngle: 120, waterLevel: 0.2 })
    await publish('wp-main-7', { pressure: 80, flowRate: 2, battery: 18 })
    const card = north.locator('li.alarm[data-device-id="mh-canal-1"]')
    await card.waitFor({ timeout: 5000 })
    await expect.poll(() => card.locator('.alarm-type').textContent()).toBe('Cover open')
    // Most severe first: the critical cover lift heads the list.
    await expect.poll(() => north.locator('li.alarm').first().getAttribute('data-device-id')).toBe('mh-canal-1')
    await screenshot(north, 'console-phone-alarms.png')

    await card.getByPlaceholder('Note (optional)').fill('Van 3 on the way, ETA 10 min')
    await card.getByRole('button', { name: 'Acknowledge' }).click()
    await expect.poll(() => card.getAttribute('class')).toContain('state-acknowledged')
    await expect.poll(() => card.locator('.acked').textContent()).toContain('Acknowledged by crew-north')

    const desktop = await openConsole('ops', DESKTOP)
    await desktop.locator('li.alarm[data-device-id="mh-canal-1"]').waitFor()
    await screenshot(desktop, 'console-desktop-alarms.png')
    await desktop.getByRole('link', { name: 'Devices & map' }).click()
    await desktop.locator('svg.map a[data-device-id="mh-canal-1"]').waitFor()
    await screenshot(desktop, 'console-desktop-map.png')
    await desktop.goto(`${gw.httpUrl}/#/device/wp-main-7`)
    await desktop.locator('svg.chart').waitFor({ timeout: 10_000 })
    await screenshot(desktop, 'console-desktop-device.png')
    await north.goto(`${gw.httpUrl}/#/device/wp-main-7`)
    await north.locator('svg.chart').waitFor({ timeout: 10_000 })
    await screenshot(north, 'console-phone-device.png')
    await north.goto(`${gw.httpUrl}/#/devices`)
    await north.locator('svg.map').waitFor()
    await screenshot(north, 'console-phone-map.png')
    await north.goto(`${gw.httpUrl}/#/`)
    await card.waitFor()

    // The cover is closed for 60 s of reading time: the alarm clears and leaves the list live
    // (the pointer is off the list: over it, a cleared card would stay until the user is done).
    await north.mouse.move(1, 1)
    const now = Date.now()
    await publish('mh-canal-1', { coverAngle: 0, ts: now })
    await publish('mh-canal-1', { coverAngle: 0, ts: now + 61_000 })
    await card.waitFor({ state: 'detached', timeout: 5000 })
    expect(await north.locator('li.alarm[data-device-id="wp-main-7"]').count()).toBeGreaterThan(0)

    // The south crew saw neither north alarm at any point (its list never had a card).
    expect(await south.locator('li.alarm').count()).toBe(0)
    expect(await south.locator('.empty').textContent()).toContain('No open alarms')
    expect(await south.content()).not.toContain('mh-canal-1')
  })
})
