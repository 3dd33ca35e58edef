// The console's map, device page and alarm history in real Chromium against real gateways
// (InfluxDB 1.x for the charts, MQTT.js devices): Leaflet over a tile server this test runs on
// 127.0.0.1 (the page's CSP lets those tiles in), the offline SVG drawing without MAP_TILE_URL,
// kind-specific pins of at least 24 px updated in place, the device page's labels, signal and
// navigate links, a chart left alone by other devices' alarms, and the history list and timeline
// of an alarm raised, escalated, acknowledged with a note and cleared. axe-core on every page at
// phone and desktop size; screenshots in test-artifacts/.
import { execFile } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../broker/config.ts'
import { tileOriginOf } from '../../broker/http/console.ts'
import { addDevice, addOperator } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { basic } from '../helpers/api-client.ts'
import { BROWSER_TEST_TIMEOUT_MS, closeChromium, DESKTOP, hasChromium, launchChromium, PHONE, screenshot, seriousAxeViolations } from '../helpers/browser.ts'
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
const NAV_URL = 'https://maps.example.test/route?to={lat},{lon}'
/** A 1 × 1 PNG: every tile the test server hands out. */
const TILE = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64')

type Alarm = { id: string; type: string; deviceId: string; state: string; severity: string }
type Viewport = { width: number; height: number }
/** The page's document inside `evaluate` callbacks (this file is compiled without the DOM library). */
type PageGlobal = { document: { querySelector(selector: string): unknown } }
type PageElement = { getAttribute(name: string): string | null; getBoundingClientRect(): { width: number; height: number }; isConnected: boolean; textContent: string | null }

describe.skipIf(!hasChromium)('console map, device page and history in Chromium', { timeout: BROWSER_TEST_TIMEOUT_MS }, () => {
  let influx: InfluxDb1Server
  let gw: TestGateway
  let plain: TestGateway
  let tiles: Server
  let tileOrigin: string
  let browser: Browser
  const tileRequests: string[] = []
  const secrets: Record<string, string> = {}
  const plainSecrets: Record<string, string> = {}

  const devices = createDevicePublisher(() => gw.mqttUrl, secrets)
  const publish = devices.publish

  async function alarmsOf (state: string): Promise<Alarm[]> {
    const res = await fetch(`${gw.httpUrl}/api/alarms?state=${state}`, { headers: basic('ops', secrets.ops!) })
    return ((await res.json()) as { alarms: Alarm[] }).alarms
  }

  /** Waits until the gateway has an alarm of `type` on `deviceId` matching `check`; returns it. */
  async function alarmOn (deviceId: string, type: string, check: (a: Alarm) => boolean = () => true, state = 'open'): Promise<Alarm> {
    let found: Alarm | undefined
    await expect.poll(async () => {
      found = (await alarmsOf(state)).find((a) => a.deviceId === deviceId && a.type === type && check(a))
      return found !== undefined
    }, { timeout: 5000 }).toBe(true)
    return found!
  }

  /** Signs in; `errors` collects the page's CSP violations and uncaught errors. */
  async function openConsole (target: TestGateway, name: string, secret: string, viewport: Viewport): Promise<{ page: Page; errors: string[] }> {
    const context = await browser.newContext({ viewport, deviceScaleFactor: 1 })
    const page = await context.newPage()
    const errors: string[] = []
    page.on('console', (msg) => { if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text())) errors.push(msg.text()) })
    page.on('pageerror', (err) => { errors.push(err.message) })
    await page.goto(target.httpUrl)
    await page.getByLabel('Name').fill(name)
    await page.getByLabel('Secret').fill(secret)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.locator('.live-live').waitFor()
    return { page, errors }
  }

  /** No serious axe violation in the light theme and in the dark one (prefers-color-scheme). */
  async function expectAccessible (page: Page): Promise<void> {
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme })
      expect(await seriousAxeViolations(page), colorScheme).toEqual([])
    }
    await page.emulateMedia({ colorScheme: 'light' })
  }

  async function pinSizes (page: Page, selector: string): Promise<{ width: number; height: number }[]> {
    return page.locator(selector).evaluateAll((els) => (els as unknown as PageElement[]).map((el) => { const r = el.getBoundingClientRect(); return { width: r.width, height: r.height } }))
  }

  beforeAll(async () => {
    await promisify(execFile)('bash', [join(REPO_ROOT, 'scripts/build-console.sh')], { cwd: REPO_ROOT, timeout: 90_000 })
    tiles = createServer((req, res) => {
      tileRequests.push(req.url ?? '')
      if (!/^\/\d+\/\d+\/\d+\.png$/.test(req.url ?? '')) { res.writeHead(404).end(); return }
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': TILE.length }).end(TILE)
    })
    await new Promise<void>((resolve) => tiles.listen(0, '127.0.0.1', resolve))
    tileOrigin = `http://127.0.0.1:${(tiles.address() as AddressInfo).port}`
    influx = await startInfluxDb1()
    gw = await startTestGateway({ env: { INFLUX_URL: influx.url, INFLUX_API: 'v1', MAP_TILE_URL: `${tileOrigin}/{z}/{x}/{y}.png`, MAP_TILE_ATTRIBUTION: '© Test tiles <b>', MAP_NAV_URL: NAV_URL } })
    plain = await startTestGateway()
    for (const device of FLEET) {
      secrets[device.id] = (await addDevice(registryPath(gw.dataDir), device)).secret
      await addDevice(registryPath(plain.dataDir), device)
    }
    secrets['crew-north'] = (await registerCrew(gw.dataDir, 'crew-north', ['north'])).secret
    secrets['crew-south'] = (await registerCrew(gw.dataDir, 'crew-south', ['south'])).secret
    secrets.ops = (await addOperator(registryPath(gw.dataDir), 'ops')).secret
    plainSecrets.ops = (await addOperator(registryPath(plain.dataDir), 'ops')).secret
    await gw.gateway.reloadRegistry()
    await plain.gateway.reloadRegistry()
    browser = await launchChromium()
    const now = Date.now()
    for (let i = 0; i < 30; i++) await publish('wp-main-7', { ts: now - (30 - i) * 60_000, pressure: 420 + (i % 7) * 5, flowRate: 30 + i / 4 })
    await publish('wp-main-7', { pressure: 431, flowRate: 37.5, pH: 7.2, leakScore: 10, turbidity: 0.3, battery: 87, seq: 5, rssi: -71 })
    await publish('lp-dam-3', { commandedLevel: 80, actualLevel: 79, supplyVoltage: 231.4, activePower: 64.2, gearTemp: 38 })
    await publish('mh-canal-2', { coverAngle: 1.5, waterLevel: 0.4, h2s: 0.3, ch4: 1, o2: 20.9, battery: 76 })
    await publish('lp-park-9', { commandedLevel: 0, supplyVoltage: 229.8, activePower: 0.8 })
    await publish('mh-park-4', { coverAngle: 0, waterLevel: 0.3 })
  }, 120_000)

  afterAll(async () => {
    await closeChromium(browser)
    await devices.close()
    await gw?.close(true)
    await plain?.close(true)
    await influx?.close()
    await new Promise((resolve) => tiles?.close(resolve))
  })

  it('tells the console its map settings, lets only the tile origin into img-src, and refuses a tile URL without {z}/{x}/{y}', async () => {
    expect((await fetch(`${gw.httpUrl}/api/console/settings`)).status).toBe(401)
    const res = await fetch(`${gw.httpUrl}/api/console/settings`, { headers: basic('crew-north', secrets['crew-north']!) })
    expect(await res.json()).toEqual({ mapTileUrl: `${tileOrigin}/{z}/{x}/{y}.png`, mapAttribution: '© Test tiles <b>', mapsUrl: NAV_URL })
    const without = await fetch(`${plain.httpUrl}/api/console/settings`, { headers: basic('ops', plainSecrets.ops!) })
    expect(await without.json()).toEqual({ mapTileUrl: null, mapAttribution: null, mapsUrl: 'https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=19/{lat}/{lon}' })

    const imgSrc = (csp: string | null) => csp?.split(';').map((d) => d.trim()).find((d) => d.startsWith('img-src'))
    expect(imgSrc((await fetch(`${gw.httpUrl}/`)).headers.get('content-security-policy'))).toBe(`img-src 'self' data: ${tileOrigin}`)
    expect(imgSrc((await fetch(`${plain.httpUrl}/`)).headers.get('content-security-policy'))).toBe("img-src 'self' data:")
    expect(tileOriginOf('https://{s}.tile.example.org/{z}/{x}/{y}.png')).toBe('https://*.tile.example.org')

    for (const bad of ['https://tiles.example.org/{z}/{x}.png', 'ftp://tiles.example.org/{z}/{x}/{y}.png', 'tiles/{z}/{x}/{y}.png']) {
      expect(() => loadConfig({ MAP_TILE_URL: bad })).toThrow(/MAP_TILE_URL/)
    }
    expect(() => loadConfig({ MAP_NAV_URL: 'https://maps.example.org/?q={lat}' })).toThrow(/MAP_NAV_URL/)
    expect(loadConfig({ MAP_TILE_URL: 'https://{s}.tile.example.org/{z}/{x}/{y}{r}.png' }).MAP_TILE_URL).toBe('https://{s}.tile.example.org/{z}/{x}/{y}{r}.png')
  })

  it('draws pins per kind on Leaflet over the configured tiles, updates them in place, and leads from a pin to its device page', async () => {
    await publish('mh-canal-1', { coverAngle: 120, waterLevel: 0.2 })
    await alarmOn('mh-canal-1', 'coverOpen')
    const { page, errors } = await openConsole(gw, 'ops', secrets.ops!, DESKTOP)
    await page.goto(`${gw.httpUrl}/#/devices`)
    const pins = page.locator('.leaflet-marker-icon.map-pin')
    await expect.poll(() => pins.count()).toBe(FLEET.length)

    // Tiles come from the configured server, and the CSP lets them in (a blocked image has no size).
    await expect.poll(() => tileRequests.filter((url) => url.endsWith('.png')).length).toBeGreaterThan(0)
    await expect.poll(() => page.locator('img.leaflet-tile').evaluateAll((imgs) => (imgs as unknown as { complete: boolean; naturalWidth: number; src: string }[]).filter((i) => i.complete && i.naturalWidth > 0).map((i) => i.src)), { timeout: 5000 })
      .toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${tileOrigin}/\\d+/\\d+/\\d+\\.png$`))]))
    expect(errors).toEqual([])
    // The attribution is shown as text, not markup.
    expect(await page.locator('.leaflet-control-attribution').textContent()).toContain('© Test tiles <b>')

    for (const size of await pinSizes(page, '.leaflet-marker-icon.map-pin')) {
      expect(size.width).toBeGreaterThanOrEqual(24)
      expect(size.height).toBeGreaterThanOrEqual(24)
    }
    expect(new Set(await pins.evaluateAll((els) => (els as unknown as PageElement[]).map((el) => el.getAttribute('data-kind'))))).toEqual(new Set(['manhole', 'water-pipe', 'lamp-post']))
    const lifted = page.locator('.leaflet-marker-icon[data-device-id="mh-canal-1"]')
    expect(await lifted.getAttribute('data-state')).toBe('alarm-critical')
    expect(await lifted.getAttribute('aria-label')).toMatch(/^mh-canal-1, manhole, critical alarm: /)
    expect(await lifted.locator('.pin-ring').count()).toBe(1) // not colour alone
    expect(await page.locator('.leaflet-marker-icon[data-device-id="lp-dam-3"]').getAttribute('data-state')).toBe('online')
    expect(await page.locator('.leaflet-marker-icon[data-device-id="mh-park-4"]').getAttribute('data-state')).toBe('online')

    // A new alarm changes its pin in place: the map and the other pins stay the same nodes.
    const mapNode = await page.locator('.leaflet-container').elementHandle()
    const otherPin = await page.locator('.leaflet-marker-icon[data-device-id="lp-dam-3"]').elementHandle()
    await publish('mh-canal-2', { coverAngle: 1.5, h2s: 25 })
    await expect.poll(() => page.locator('.leaflet-marker-icon[data-device-id="mh-canal-2"]').getAttribute('data-state'), { timeout: 5000 }).toBe('alarm-critical')
    expect(await mapNode.evaluate((el) => (el as unknown as PageElement).isConnected && (globalThis as unknown as PageGlobal).document.querySelector('.leaflet-container') === el)).toBe(true)
    expect(await otherPin.evaluate((el) => (el as unknown as PageElement).isConnected)).toBe(true)
    await expectAccessible(page)
    await screenshot(page, 'map-tiles-desktop.png')

    // The pin opens a popup with the alarm, navigate links and the device page.
    await lifted.click()
    const popup = page.locator('.leaflet-popup .pin-popup')
    await popup.waitFor()
    await expect.poll(() => page.locator('.leaflet-popup').evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { opacity: string } }).getComputedStyle(el).opacity)).toBe('1')
    expect(await popup.locator('a.nav-geo').getAttribute('href')).toBe('geo:52.386100,4.896200')
    expect(await popup.locator('a.nav-web').getAttribute('href')).toBe('https://maps.example.test/route?to=52.386100,4.896200')
    await screenshot(page, 'map-tiles-popup-desktop.png')
    await popup.getByRole('link', { name: 'Device page' }).click()
    await expect.poll(() => new URL(page.url()).hash).toBe('#/device/mh-canal-1')
    await expect.poll(() => page.locator('.device-head h2').textContent()).toContain('mh-canal-1')
    await page.context().close()

    const phone = await openConsole(gw, 'crew-north', secrets['crew-north']!, PHONE)
    await phone.page.goto(`${gw.httpUrl}/#/devices`)
    await expect.poll(() => phone.page.locator('.leaflet-marker-icon.map-pin').count()).toBe(FLEET.filter((d) => d.district === 'north').length)
    await expect.poll(() => phone.page.locator('img.leaflet-tile').evaluateAll((imgs) => (imgs as unknown as { complete: boolean; naturalWidth: number; src: string }[]).some((i) => i.complete && i.naturalWidth > 0))).toBe(true)
    expect(phone.errors).toEqual([])
    await expectAccessible(phone.page)
    await screenshot(phone.page, 'map-tiles-phone.png')
    await phone.page.context().close()
  })

  it('draws the offline SVG map without MAP_TILE_URL and asks for no tile', async () => {
    const before = tileRequests.length
    for (const viewport of [PHONE, DESKTOP]) {
      const { page, errors } = await openConsole(plain, 'ops', plainSecrets.ops!, viewport)
      await page.goto(`${plain.httpUrl}/#/devices`)
      const pins = page.locator('svg.map a[data-device-id]')
      await expect.poll(() => pins.count()).toBe(FLEET.length)
      for (const size of await pinSizes(page, 'svg.map a[data-device-id]')) {
        expect(size.width).toBeGreaterThanOrEqual(24)
        expect(size.height).toBeGreaterThanOrEqual(24)
      }
      expect(new Set(await pins.evaluateAll((els) => (els as unknown as PageElement[]).map((el) => el.getAttribute('data-kind'))))).toEqual(new Set(['manhole', 'water-pipe', 'lamp-post']))
      expect(await pins.first().getAttribute('aria-label')).toMatch(/^[a-z0-9-]+, (manhole|water pipe|lamp post), offline$/)
      expect(await page.locator('.leaflet-container').count()).toBe(0)
      expect(await page.locator('.map-legend li').count()).toBeGreaterThanOrEqual(5)
      await expectAccessible(page)
      await screenshot(page, `map-offline-${viewport === PHONE ? 'phone' : 'desktop'}.png`)
      await page.locator('svg.map a[data-device-id="wp-main-7"]').click()
      await expect.poll(() => new URL(page.url()).hash).toBe('#/device/wp-main-7')
      expect(errors).toEqual([])
      await page.context().close()
    }
    expect(tileRequests.length).toBe(before)
  })

  it('labels readings as people write them, shows the signal in the header, and leaves the chart alone when another device raises an alarm', async () => {
    const { page } = await openConsole(gw, 'ops', secrets.ops!, DESKTOP)
    const seriesRequests: string[] = []
    page.on('request', (req) => { if (req.url().includes('/series')) seriesRequests.push(req.url()) })
    await page.goto(`${gw.httpUrl}/#/device/wp-main-7`)
    const chart = page.locator('svg.chart')
    await chart.waitFor({ timeout: 10_000 })
    const labels = await page.locator('table.readings th').allTextContents()
    expect(labels).toContain('pH')
    expect(labels).toContain('Leak score')
    for (const gone of ['Seq', 'Rssi', 'Frame counter', 'Signal', 'P h']) expect(labels).not.toContain(gone)
    expect(await page.locator('table.readings tr[data-field="leakScore"] td').textContent()).toBe('10')
    expect(await page.locator('table.readings tr[data-field="pH"] td').textContent()).toBe('7.20')
    expect(await page.locator('.device-status').textContent()).toContain('signal -71 dBm')
    expect(await page.locator('.device-head a.nav-geo').getAttribute('href')).toBe('geo:52.381200,4.893100')
    expect(await page.locator('.device-head a.nav-web').getAttribute('href')).toBe('https://maps.example.test/route?to=52.381200,4.893100')

    // Pick a field and range; another device's alarm must not redraw or refetch the chart.
    await page.getByLabel('Field').selectOption('flowRate')
    await page.getByLabel('Time range').selectOption('360')
    await expect.poll(() => seriesRequests.some((url) => url.includes('field=flowRate') && url.includes('minutes=360'))).toBe(true)
    await page.locator('.chart-box[data-field="flowRate"][data-minutes="360"] svg.chart').waitFor()
    expect(await chart.getAttribute('aria-label')).toBe('Flow rate over time')
    const chartNode = await chart.elementHandle()
    const requestsBefore = seriesRequests.length
    await publish('mh-canal-1', { coverAngle: 120, waterLevel: 1.2 })
    await alarmOn('mh-canal-1', 'highWater')
    // Then an alarm of this device: once its own section shows it, the earlier one was handled too.
    await publish('wp-main-7', { pressure: 431, turbidity: 2 })
    await page.locator('.device-alarms li', { hasText: 'Turbidity' }).waitFor({ timeout: 5000 })
    expect(await chartNode.evaluate((el) => (el as unknown as PageElement).isConnected && (globalThis as unknown as PageGlobal).document.querySelector('svg.chart') === el)).toBe(true)
    // Its own alarm brings its readings up to date, in place.
    await expect.poll(() => page.locator('table.readings tr[data-field="turbidity"] td').textContent(), { timeout: 5000 }).toBe('2 NTU')
    expect(seriesRequests.length).toBe(requestsBefore)
    expect(await page.getByLabel('Field').inputValue()).toBe('flowRate')
    expect(await page.getByLabel('Time range').inputValue()).toBe('360')
    await expectAccessible(page)
    await screenshot(page, 'device-desktop.png')
    await page.context().close()

    const phone = await openConsole(gw, 'crew-north', secrets['crew-north']!, PHONE)
    await phone.page.goto(`${gw.httpUrl}/#/device/mh-canal-2`)
    await phone.page.locator('table.readings').waitFor()
    const gasLabels = await phone.page.locator('table.readings th').allTextContents()
    expect(gasLabels).toEqual(expect.arrayContaining(['H₂S', 'CH₄', 'O₂']))
    expect(gasLabels.join(' ')).not.toMatch(/H2s|Ch4|O2/)
    await phone.page.locator('svg.chart').waitFor({ timeout: 10_000 })
    await expectAccessible(phone.page)
    await screenshot(phone.page, 'device-phone.png')
    await phone.page.context().close()
  })

  // Needs the history API (GET /api/alarms/history, /api/alarms/{id}/timeline).
  it('shows an alarm raised, escalated, acknowledged with a note and cleared, in the history and on its timeline', async () => {
    await publish('mh-park-4', { coverAngle: 0, waterLevel: 1.2 })
    const raised = await alarmOn('mh-park-4', 'highWater', (a) => a.severity === 'major')
    await publish('mh-park-4', { coverAngle: 0, waterLevel: 1.6 })
    await alarmOn('mh-park-4', 'highWater', (a) => a.severity === 'critical')
    const ack = await fetch(`${gw.httpUrl}/api/alarms/${raised.id}/ack`, { method: 'POST', headers: { 'content-type': 'application/json', ...basic('crew-south', secrets['crew-south']!) }, body: JSON.stringify({ note: 'Pump truck on its way' }) })
    expect(ack.status).toBe(200)
    await publish('mh-park-4', { coverAngle: 0, waterLevel: 0.5 })
    await alarmOn('mh-park-4', 'highWater', (a) => a.id === raised.id, 'cleared')

    for (const viewport of [PHONE, DESKTOP]) {
      const size = viewport === PHONE ? 'phone' : 'desktop'
      const { page, errors } = await openConsole(gw, 'crew-south', secrets['crew-south']!, viewport)
      await page.goto(`${gw.httpUrl}/#/history`)
      const item = page.locator(`li.history-item[data-alarm-id="${raised.id}"]`)
      await item.waitFor({ timeout: 5000 })
      expect(await item.getAttribute('class')).toContain('state-cleared')
      const text = await item.textContent()
      expect(text).toContain('Acknowledged by crew-south after')
      expect(text).toContain('Pump truck on its way')
      expect(text).toMatch(/Cleared .* after \d/)
      expect(await page.locator('li.history-item').evaluateAll((els) => (els as unknown as PageElement[]).some((el) => el.textContent?.includes('mh-canal')))).toBe(false)
      await expectAccessible(page)
      await screenshot(page, `history-${size}.png`)

      await item.getByRole('link', { name: /^Timeline/ }).click()
      await expect.poll(() => new URL(page.url()).hash).toBe(`#/alarm/${raised.id}`)
      const steps = page.locator('ol.timeline li.timeline-event')
      await expect.poll(() => steps.evaluateAll((els) => (els as unknown as PageElement[]).map((el) => el.getAttribute('data-change')))).toEqual(['raised', 'escalated', 'acknowledged', 'cleared'])
      expect(await steps.nth(2).textContent()).toContain('Acknowledged by crew-south')
      expect(await steps.nth(2).textContent()).toContain('Pump truck on its way')
      expect(await page.locator('.durations dd').allTextContents()).not.toContain('—')
      expect(await page.locator('.timeline-head a.nav-geo').getAttribute('href')).toBe('geo:52.360200,4.885100')
      await expectAccessible(page)
      await screenshot(page, `timeline-${size}.png`)

      // The device page lists it in its last 7 days.
      await page.goto(`${gw.httpUrl}/#/device/mh-park-4`)
      await page.locator(`.device-history li[data-alarm-id="${raised.id}"]`).waitFor({ timeout: 5000 })
      expect(errors).toEqual([])
      await page.context().close()
    }
  })
})
