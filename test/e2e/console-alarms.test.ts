// The crew console's alarm list, attention signals, sessions and installable app in real Chromium,
// against a real gateway, InfluxDB 1.x and MQTT.js devices: cards stay put under the finger while
// new alarms wait behind an "N new alarms" bar, focus and a typed note survive live updates, the
// live region announces once, a failed acknowledge is shown on its card and retried, a critical
// alarm sounds, vibrates and notifies, an ended session is said loudly, the shell works offline,
// and axe-core finds no serious violation in either theme at phone and desktop size.
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Browser, BrowserContextOptions, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addDevice, addOperator } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { BROWSER_TEST_TIMEOUT_MS, closeChromium, DESKTOP, hasChromium, launchChromium, PHONE, screenshot, seriousAxeViolations } from '../helpers/browser.ts'
import { REPO_ROOT, registerCrew, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { createDevicePublisher } from '../helpers/mqtt.ts'

const FLEET = [
  ...Array.from({ length: 16 }, (_, i) => ({ id: `mh-${i + 1}`, kind: 'manhole', district: 'north', lat: 52.38 + i / 1000, lon: 4.89 + i / 1000 })),
  ...Array.from({ length: 6 }, (_, i) => ({ id: `lp-${i + 1}`, kind: 'lamp-post', district: 'north', lat: 52.37 + i / 1000, lon: 4.9 + i / 1000 })),
  { id: 'mh-south-1', kind: 'manhole', district: 'south', lat: 52.36, lon: 4.88 },
  { id: 'lp-east-1', kind: 'lamp-post', district: 'east', lat: 52.37, lon: 4.95 },
]

// The functions below run inside Chromium; this program has no DOM types, so they are strings.

/** Records what the page does to get attention (runs before the console's own scripts). */
const RECORD_ATTENTION = `(() => {
  const calls = window.attentionCalls = []
  const start = OscillatorNode.prototype.start
  OscillatorNode.prototype.start = function (...args) { calls.push('sound'); return start.apply(this, args) }
  Object.defineProperty(Navigator.prototype, 'vibrate', { configurable: true, value () { calls.push('vibrate'); return true } })
  const show = ServiceWorkerRegistration.prototype.showNotification
  ServiceWorkerRegistration.prototype.showNotification = function (title, options) { calls.push('notification:' + title); return show.call(this, title, options) }
  window.Notification = new Proxy(window.Notification, {
    construct (target, args) { calls.push('notification:' + args[0]); return window.lastNotification = Reflect.construct(target, args) },
    get (target, property) { const value = Reflect.get(target, property); return typeof value === 'function' ? value.bind(target) : value },
  })
})()`
const ATTENTION_CALLS = 'window.attentionCalls.slice()'
const ACTIVE_FIELD_NAME = 'document.activeElement?.name'

/** The device ids of the cards, top to bottom. */
async function deviceOrder (page: Page): Promise<(string | null)[]> {
  return Promise.all((await page.locator('li.alarm').all()).map((card) => card.getAttribute('data-device-id')))
}

describe.skipIf(!hasChromium)('crew console: alarm list, attention, sessions, offline app', { timeout: BROWSER_TEST_TIMEOUT_MS }, () => {
  let influx: InfluxDb1Server
  let gw: TestGateway
  let browser: Browser
  /** The whole browser, for the tests of notifications (the headless shell refuses them). */
  let notifyingBrowser: Browser | undefined
  const secrets: Record<string, string> = {}

  const devices = createDevicePublisher(() => gw.mqttUrl, secrets)
  const publish = devices.publish

  async function newPage (options: BrowserContextOptions = {}): Promise<Page> {
    const notifies = options.permissions?.includes('notifications') === true
    if (notifies) notifyingBrowser ??= await launchChromium({ notifications: true })
    // bypassCSP: axe-core is injected as a script the console's policy would refuse.
    const context = await (notifies ? notifyingBrowser! : browser).newContext({ viewport: PHONE, deviceScaleFactor: 1, serviceWorkers: 'block', bypassCSP: true, ...options })
    const page = await context.newPage()
    page.setDefaultTimeout(8000)
    page.on('pageerror', (err) => { console.error('page error:', err.message) })
    page.on('console', (message) => { if (message.type() === 'error') console.error('page console:', message.text()) })
    return page
  }

  async function signIn (page: Page, name: string): Promise<void> {
    await page.goto(gw.httpUrl)
    await page.getByLabel('Name').fill(name)
    await page.getByLabel('Secret').fill(secrets[name]!)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.locator('.live-live').waitFor({ timeout: 10_000 })
    // Away from the list: nothing is held for a pointer resting over it.
    await page.mouse.move(2, 2)
  }

  /** Acknowledges an alarm as the operator, over the API (someone else on another phone). */
  async function acknowledgeAsOps (alarmId: string, note: string): Promise<void> {
    const auth = `Basic ${Buffer.from(`ops:${secrets.ops!}`).toString('base64')}`
    const res = await fetch(`${gw.httpUrl}/api/alarms/${encodeURIComponent(alarmId)}/ack`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify({ note }) })
    expect(res.status).toBe(200)
  }

  /** The open alarm of a device, as the operator sees it over the API (polled: the engine is asynchronous). */
  async function openAlarmIdOf (deviceId: string): Promise<string> {
    const auth = `Basic ${Buffer.from(`ops:${secrets.ops!}`).toString('base64')}`
    let id: string | undefined
    await expect.poll(async () => {
      const res = await fetch(`${gw.httpUrl}/api/alarms?state=open`, { headers: { authorization: auth } })
      const body = await res.json() as { alarms: { id: string; deviceId: string }[] }
      id = body.alarms.find((a) => a.deviceId === deviceId)?.id
      return id
    }).toBeDefined()
    return id!
  }

  const card = (page: Page, deviceId: string) => page.locator(`li.alarm[data-device-id="${deviceId}"]`)

  beforeAll(async () => {
    await promisify(execFile)('bash', [join(REPO_ROOT, 'scripts/build-console.sh')], { cwd: REPO_ROOT, timeout: 90_000 })
    influx = await startInfluxDb1()
    gw = await startTestGateway({ env: { INFLUX_URL: influx.url, INFLUX_API: 'v1' } })
    for (const device of FLEET) secrets[device.id] = (await addDevice(registryPath(gw.dataDir), device)).secret
    secrets['crew-north'] = (await registerCrew(gw.dataDir, 'crew-north', ['north'])).secret
    secrets['night-crew-canal-district'] = (await registerCrew(gw.dataDir, 'night-crew-canal-district', ['north'])).secret
    secrets.ops = (await addOperator(registryPath(gw.dataDir), 'ops')).secret
    await gw.gateway.reloadRegistry()
    browser = await launchChromium()
  }, 120_000)

  afterAll(async () => {
    await closeChromium(browser)
    await closeChromium(notifyingBrowser)
    await devices.close()
    await gw?.close(true)
    await influx?.close()
  })

  it('holds a new critical alarm behind a "1 new alarm" bar while the pointer is on another card; the live region announces it once', async () => {
    const page = await newPage()
    await signIn(page, 'crew-north')
    // A mark on the region itself: afterwards it must be the same element, not a rebuilt one.
    await page.evaluate("document.getElementById('announcer').marked = true")
    await publish('mh-1', { coverAngle: 0, h2s: 12 })
    await publish('lp-1', { commandedLevel: 0, supplyVoltage: 230, activePower: 0.4, doorOpen: true })
    await card(page, 'lp-1').waitFor()
    await card(page, 'mh-1').waitFor()
    expect(await deviceOrder(page)).toEqual(['mh-1', 'lp-1'])

    // The finger (mouse) rests on the door alarm's Acknowledge button.
    const target = card(page, 'lp-1')
    const button = target.getByRole('button', { name: 'Acknowledge' })
    await button.hover()
    const before = await target.boundingBox()
    const box = (await button.boundingBox())!
    const point = { x: box.x + box.width / 2, y: box.y + box.height / 2 }
    const idAt = () => page.evaluate(`document.elementFromPoint(${point.x}, ${point.y})?.closest('li.alarm')?.dataset.deviceId ?? null`)
    expect(await idAt()).toBe('lp-1')

    await publish('mh-2', { coverAngle: 120 })
    const bar = page.locator('button.new-alarms')
    await bar.waitFor({ state: 'visible', timeout: 5000 })
    expect(await bar.textContent()).toContain('1 new alarm')
    expect(await bar.textContent()).toContain('critical')
    expect(await target.boundingBox()).toEqual(before)
    expect(await idAt()).toBe('lp-1')
    expect(await page.locator('li.alarm').count()).toBe(2)
    await expect.poll(() => page.locator('#announcer').textContent()).toContain('New critical alarm: Cover open at mh-2, north')
    await screenshot(page, 'console-alarms-phone-new-alarm-bar.png')

    await bar.click()
    await expect.poll(() => page.locator('li.alarm').first().getAttribute('data-device-id')).toBe('mh-2')
    expect(await bar.isHidden()).toBe(true)
    expect(await page.locator('li.alarm').count()).toBe(3)

    // More changes later: the announcement stays single and the region is the same element.
    await acknowledgeAsOps((await card(page, 'mh-1').getAttribute('data-alarm-id'))!, 'on it')
    await expect.poll(() => page.locator('#announcer').textContent()).toContain('acknowledged by ops')
    const announcements = await page.locator('#announcer p').allTextContents()
    expect(announcements.filter((t) => t === 'New critical alarm: Cover open at mh-2, north')).toHaveLength(1)
    expect(await page.evaluate("document.getElementById('announcer').marked === true && document.querySelectorAll('[aria-live]').length === 1")).toBe(true)
  })

  it('goes straight into sorted order when nobody is working in the list', async () => {
    const page = await newPage()
    await signIn(page, 'crew-north')
    await publish('mh-11', { coverAngle: 125 })
    await card(page, 'mh-11').waitFor()
    await publish('lp-4', { commandedLevel: 0, supplyVoltage: 230, activePower: 0.4, doorOpen: true })
    await card(page, 'lp-4').waitFor()
    await publish('mh-12', { coverAngle: 130 })
    await card(page, 'mh-12').waitFor({ timeout: 5000 })
    expect(await page.locator('button.new-alarms').isHidden()).toBe(true)
    // Critical before minor, oldest first within a severity: mh-11, then mh-12, then (later) lp-4.
    const order = await deviceOrder(page)
    expect(order.indexOf('mh-11')).toBeLessThan(order.indexOf('mh-12'))
    expect(order.indexOf('mh-12')).toBeLessThan(order.indexOf('lp-4'))
  })

  it('holds new alarms while the list is scrolled down, and puts them in once it is back at the top', async () => {
    const page = await newPage({ viewport: { width: 390, height: 500 } })
    await signIn(page, 'crew-north')
    await publish('mh-14', { coverAngle: 0, h2s: 14 })
    await publish('lp-5', { commandedLevel: 0, supplyVoltage: 230, activePower: 0.4, doorOpen: true })
    await card(page, 'lp-5').waitFor()
    await card(page, 'mh-14').waitFor()
    await page.evaluate('window.scrollTo(0, document.body.scrollHeight)')
    await page.mouse.move(2, 2)
    const shown = await deviceOrder(page)
    await publish('mh-15', { coverAngle: 160 })
    await page.locator('button.new-alarms').waitFor({ state: 'visible', timeout: 5000 })
    expect(await deviceOrder(page)).toEqual(shown)
    await page.evaluate('window.scrollTo(0, 0)')
    await card(page, 'mh-15').waitFor({ timeout: 5000 })
    expect(await page.locator('button.new-alarms').isHidden()).toBe(true)
  })

  it('keeps focus, caret and a typed note through live updates and the 30 s age refresh', async () => {
    const page = await newPage()
    await page.clock.install()
    await signIn(page, 'crew-north')
    await publish('mh-13', { coverAngle: 0, h2s: 15 })
    await publish('mh-4', { coverAngle: 0, h2s: 11 })
    const mine = card(page, 'mh-4')
    await mine.waitFor()
    // A mark on the element itself: the same card (not a rebuilt one) must keep the focus.
    await page.evaluate('document.querySelector(\'li.alarm[data-device-id="mh-4"]\').marked = true')
    const note = mine.getByPlaceholder('Note (optional)')
    await note.click()
    await note.pressSequentially('gas detector reading high')
    await note.press('ArrowLeft')
    await note.press('ArrowLeft')
    const noteIsFocused = () => page.evaluate(`(() => {
      const active = document.activeElement
      const li = active?.closest('li.alarm')
      return { focused: li?.dataset.deviceId === 'mh-4' && li.marked === true && active.classList.contains('note'), value: active?.value, caret: active?.selectionStart }
    })()`)
    const expected = { focused: true, value: 'gas detector reading high', caret: 'gas detector reading high'.length - 2 }
    expect(await noteIsFocused()).toEqual(expected)

    // Its own escalation, another alarm raised, and one acknowledged by someone else.
    await publish('mh-4', { coverAngle: 0, h2s: 25 })
    await expect.poll(() => mine.locator('.badge').textContent()).toBe('critical')
    await publish('mh-5', { coverAngle: 100 })
    await expect.poll(() => page.locator('#announcer').textContent()).toContain('Cover open at mh-5')
    await acknowledgeAsOps(await openAlarmIdOf('mh-13'), 'van 2')
    await expect.poll(() => card(page, 'mh-13').getAttribute('class')).toContain('state-acknowledged')
    expect(await noteIsFocused()).toEqual(expected)
    // mh-5 was held (focus is in the list): the bar says so, mh-4's card did not move away.
    await page.locator('button.new-alarms').waitFor({ state: 'visible' })

    const age = mine.locator('.alarm-meta time')
    expect(await age.textContent()).toBe('just now')
    await page.clock.fastForward(31_000)
    await expect.poll(() => age.textContent()).not.toBe('just now')
    expect(await noteIsFocused()).toEqual(expected)
  })

  it('shows a failed acknowledge on its card, keeps the note, and retries', async () => {
    const page = await newPage()
    await signIn(page, 'crew-north')
    await publish('mh-6', { coverAngle: 0, waterLevel: 1.2 })
    const target = card(page, 'mh-6')
    await target.waitFor()
    await page.route('**/api/alarms/*/ack', (route) => route.abort('internetdisconnected'))
    await target.getByPlaceholder('Note (optional)').fill('blocked by parked car')
    await target.getByRole('button', { name: 'Acknowledge' }).click()
    const error = target.getByRole('alert')
    await expect.poll(() => error.textContent()).toBe('Not acknowledged: no network. Your note is kept.')
    expect(await target.getByPlaceholder('Note (optional)').inputValue()).toBe('blocked by parked car')
    const retry = target.getByRole('button', { name: 'Retry acknowledge' })
    expect(await retry.isVisible()).toBe(true)
    expect(await page.locator('.flash').count()).toBe(0)
    await screenshot(page, 'console-alarms-phone-ack-failed.png')

    await page.unroute('**/api/alarms/*/ack')
    await retry.click()
    await expect.poll(() => target.getAttribute('class')).toContain('state-acknowledged')
    expect(await target.locator('.acked').textContent()).toContain('Acknowledged by crew-north')
    expect(await target.locator('.acked q').textContent()).toBe('blocked by parked car')
    expect(await target.locator('.ack-error').textContent()).toBe('')
  })

  it('says on the card when someone else acknowledged first (409), and shows their acknowledgement', async () => {
    const page = await newPage()
    await signIn(page, 'crew-north')
    await publish('mh-16', { coverAngle: 0, waterLevel: 1.6 })
    const target = card(page, 'mh-16')
    await target.waitFor()
    const alarmId = await openAlarmIdOf('mh-16')
    // The operator acknowledges just before this crew's request reaches the gateway.
    await page.route('**/api/alarms/*/ack', async (route) => {
      await acknowledgeAsOps(alarmId, 'already on site')
      await route.continue()
    })
    await target.getByRole('button', { name: 'Acknowledge' }).click()
    await expect.poll(() => target.locator('.ack-error').textContent()).toBe('Not acknowledged: the alarm is already acknowledged.')
    await expect.poll(() => target.locator('.acked').textContent()).toContain('Acknowledged by ops')
    expect(await target.getAttribute('class')).toContain('state-acknowledged')
  })

  it('sounds, vibrates and notifies for a new critical alarm with the count in the title; a minor one does not notify', async () => {
    const page = await newPage({ permissions: ['notifications'] })
    await page.addInitScript(RECORD_ATTENTION)
    await signIn(page, 'crew-north')
    expect(await page.getByText('Alerts on').isVisible()).toBe(true)
    const calls = () => page.evaluate<string[]>(ATTENTION_CALLS)
    expect(await calls()).toEqual([])

    await publish('mh-7', { coverAngle: 140 })
    await card(page, 'mh-7').waitFor()
    await expect.poll(calls).toEqual(expect.arrayContaining(['sound', 'vibrate', 'notification:Critical: Cover open']))
    const open = await page.locator('li.alarm').count()
    expect(await page.title()).toBe(`(${open}) City sensors`)
    expect(await page.locator('nav.tabs .count').textContent()).toBe(String(open))
    const pillTotal = (await page.locator('.counts .pill').allTextContents()).reduce((sum, text) => sum + Number.parseInt(text, 10), 0)
    expect(pillTotal).toBe(open)

    // Clicking the notification from another page opens the alarms page on that alarm's card.
    await page.getByRole('link', { name: 'Devices & map' }).click()
    await page.locator('nav.tabs a[aria-current="page"][href="#/devices"]').waitFor()
    await page.evaluate('window.lastNotification.onclick()')
    await expect.poll(() => page.evaluate('document.activeElement?.dataset.deviceId')).toBe('mh-7')
    expect(new URL(page.url()).hash).toBe('#/')
    // The user leaves the list (focus out, back at the top): new alarms go straight in again.
    await page.evaluate('document.activeElement.blur(); window.scrollTo(0, 0)')
    await page.mouse.move(2, 2)

    await page.evaluate('window.attentionCalls.length = 0')
    await publish('lp-2', { commandedLevel: 0, supplyVoltage: 230, activePower: 0.4, doorOpen: true })
    await card(page, 'lp-2').waitFor()
    await expect.poll(() => page.title()).toBe(`(${open + 1}) City sensors`)
    expect(await calls()).toEqual([])

    // An escalation to critical is news too.
    await publish('mh-8', { coverAngle: 0, h2s: 12 })
    await card(page, 'mh-8').waitFor()
    expect(await calls()).toEqual([])
    await publish('mh-8', { coverAngle: 0, h2s: 30 })
    await expect.poll(calls).toEqual(expect.arrayContaining(['sound', 'vibrate', 'notification:Escalated to critical: H2s']))
  })

  it('says loudly that this phone no longer receives alarms when the session ends', async () => {
    const page = await newPage({ permissions: ['notifications'] })
    await page.addInitScript(RECORD_ATTENTION)
    await signIn(page, 'crew-north')
    // Signed out elsewhere (here: by this browser's own cookie, outside the console): the gateway
    // closes the alarm stream, and the console finds the session gone.
    await page.evaluate("fetch('/api/session', { method: 'DELETE' })")
    const notice = page.getByRole('alert').filter({ hasText: 'This phone no longer receives alarms' })
    await notice.waitFor({ timeout: 5000 })
    expect(await page.evaluate<string[]>(ATTENTION_CALLS)).toEqual(expect.arrayContaining(['sound', 'vibrate', 'notification:Signed out']))
    // No device cookie here: the form, with the name filled in and the secret focused.
    expect(await page.getByLabel('Name').inputValue()).toBe('crew-north')
    await expect.poll(() => page.evaluate(ACTIVE_FIELD_NAME)).toBe('secret')
    await screenshot(page, 'console-alarms-phone-session-ended.png')
    await page.getByLabel('Secret').fill(secrets['crew-north']!)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.locator('.live-live').waitFor()
  })

  it('ends the page\'s session when a page\'s own call is refused (401), not only the alarm stream', async () => {
    const page = await newPage()
    await signIn(page, 'crew-north')
    // The history call alone is answered 401 (the stream stays up): the console must still notice.
    await page.route('**/api/alarms/history*', (route) => route.fulfill({ status: 401, contentType: 'application/json', body: JSON.stringify({ statusCode: 401, error: 'Unauthorized', message: 'sign in' }) }))
    await page.getByRole('link', { name: 'History' }).click()
    await page.getByRole('alert').filter({ hasText: 'This phone no longer receives alarms' }).waitFor({ timeout: 5000 })
  })

  it('signs in again with one step on a trusted device (device cookie, /api/session/resume)', async () => {
    const page = await newPage()
    await page.goto(gw.httpUrl)
    await page.getByLabel('Name').fill('crew-north')
    await page.getByLabel('Secret').fill(secrets['crew-north']!)
    await page.getByLabel('Keep this device signed in (30 days)').check()
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.locator('.live-live').waitFor()
    expect(await page.evaluate("fetch('/api/session').then((r) => r.json()).then((me) => me.trustedDevice)")).toBe(true)
    // The session ends (not a sign-out): the loud notice, and one button on this trusted device.
    await page.evaluate("fetch('/api/session', { method: 'DELETE' })")
    await page.locator('.session-ended').waitFor({ timeout: 5000 })
    const again = page.getByRole('button', { name: 'Sign in again as crew-north' })
    await again.waitFor()
    expect(await seriousAxeViolations(page)).toEqual([])
    await screenshot(page, 'console-alarms-phone-session-ended-resume.png')
    await again.click()
    await page.locator('.live-live').waitFor()
    // Opening the console with no session but a device cookie: the same one step, no notice.
    await page.evaluate("fetch('/api/session', { method: 'DELETE' })")
    await page.locator('.session-ended').waitFor({ timeout: 5000 })
    await page.reload()
    await again.waitFor({ timeout: 5000 })
    expect(await page.locator('.session-ended').count()).toBe(0)
    await again.click()
    await page.locator('.live-live').waitFor()
    // Signing out on purpose forgets the device: the form again, "Signed out." not as an error.
    await page.getByRole('button', { name: 'Sign out' }).click()
    const status = page.locator('.form-status')
    await expect.poll(() => status.textContent()).toBe('Signed out.')
    // A neutral status in the text colour, not an error in red.
    expect(await page.evaluate("getComputedStyle(document.querySelector('.form-status')).color")).toBe('rgb(22, 32, 44)')
    expect(await status.getAttribute('role')).toBe('status')
    expect(await page.getByRole('button', { name: /Sign in again/ }).count()).toBe(0)
  })

  it('serves the manifest and service worker; the shell loads offline and says alarms are not being received', async () => {
    const manifestRes = await fetch(`${gw.httpUrl}/manifest.webmanifest`)
    expect(manifestRes.headers.get('content-type')).toContain('application/manifest+json')
    expect(manifestRes.headers.get('cache-control')).toBe('no-cache')
    const manifest = await manifestRes.json() as { name: string; short_name: string; start_url: string; display: string; icons: { src: string; sizes: string; type: string }[] }
    expect(manifest).toMatchObject({ short_name: 'City sensors', start_url: '/', display: 'standalone' })
    for (const size of ['192x192', '512x512']) {
      const icon = manifest.icons.find((i) => i.sizes === size && i.type === 'image/png')
      expect(icon).toBeDefined()
      const res = await fetch(`${gw.httpUrl}${icon!.src}`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('image/png')
    }
    const sw = await fetch(`${gw.httpUrl}/sw.js`)
    expect(sw.headers.get('content-type')).toContain('javascript')
    expect(sw.headers.get('cache-control')).toBe('no-cache')
    expect(await sw.text()).not.toContain('__SHELL_MANIFEST__')

    const page = await newPage({ serviceWorkers: 'allow' })
    await signIn(page, 'crew-north')
    expect(await page.locator('link[rel="manifest"]').getAttribute('href')).toBe('/manifest.webmanifest')
    expect(await page.evaluate('navigator.serviceWorker.ready.then((r) => r.scope)')).toBe(`${gw.httpUrl}/`)
    await expect.poll(() => page.evaluate('navigator.serviceWorker.controller !== null')).toBe(true)

    // This build's shell is cached under its version; nothing of /api is.
    const version = /version\W+([0-9a-f]{16})/.exec(await (await fetch(`${gw.httpUrl}/sw.js`)).text())?.[1]
    expect(version).toMatch(/^[0-9a-f]{16}$/)
    await expect.poll(() => page.evaluate('caches.keys()')).toEqual([`console-shell-${version}`])
    const cached = await page.evaluate<string[]>(`caches.open('console-shell-${version}').then((c) => c.keys()).then((rs) => rs.map((r) => new URL(r.url).pathname))`)
    const script = await page.locator('script[type="module"]').getAttribute('src')
    expect(cached).toEqual(expect.arrayContaining(['/', script, '/manifest.webmanifest', '/icons/icon-192.png']))
    expect(cached.filter((path) => path.startsWith('/api'))).toEqual([])

    const context = page.context()
    await context.setOffline(true)
    const banner = page.locator('.offline-banner')
    await banner.waitFor({ state: 'visible', timeout: 5000 })
    expect(await banner.textContent()).toContain('Offline — alarms are not being received')
    expect(await page.locator('.live').textContent()).toBe('Offline')
    expect(await seriousAxeViolations(page)).toEqual([])
    await page.reload()
    const notice = page.locator('.offline-notice')
    await notice.waitFor({ timeout: 5000 })
    expect(await notice.textContent()).toContain('Offline — alarms are not being received')
    expect(await seriousAxeViolations(page)).toEqual([])
    await screenshot(page, 'console-alarms-phone-offline.png')
    await context.setOffline(false)
    await page.locator('.live-live').waitFor({ timeout: 10_000 })
  })

  it('has no serious axe violation on sign-in, the alarm list and the session-ended notice, light and dark, phone and desktop; the crew name is not cut off', async () => {
    // One alarm of each state and several severities on the list.
    await publish('mh-9', { coverAngle: 150 })
    await publish('mh-10', { coverAngle: 0, h2s: 12 })
    await publish('lp-3', { commandedLevel: 0, supplyVoltage: 230, activePower: 0.4, doorOpen: true })
    await acknowledgeAsOps(await openAlarmIdOf('mh-10'), 'crew 4 checking the gas')
    for (const colorScheme of ['light', 'dark'] as const) {
      for (const [size, viewport] of [['phone', PHONE], ['desktop', DESKTOP]] as const) {
        const page = await newPage({ viewport, colorScheme })
        await page.goto(gw.httpUrl)
        await page.getByLabel('Name').waitFor()
        await expect.poll(() => page.evaluate(ACTIVE_FIELD_NAME)).toBe('name')
        expect(await seriousAxeViolations(page), `sign-in ${colorScheme} ${size}`).toEqual([])
        await screenshot(page, `console-alarms-${size}-${colorScheme}-sign-in.png`)

        await page.getByLabel('Name').fill('night-crew-canal-district')
        await page.getByLabel('Secret').fill(secrets['night-crew-canal-district']!)
        await page.getByRole('button', { name: 'Sign in' }).click()
        await page.locator('.live-live').waitFor()
        await page.mouse.move(2, 2)
        await page.locator('li.alarm.state-acknowledged').first().waitFor()
        await page.locator('li.alarm.state-active').first().waitFor()
        const name = page.locator('.who-name')
        expect(await name.textContent()).toBe('night-crew-canal-district')
        expect(await page.evaluate("(() => { const el = document.querySelector('.who-name'); return el.scrollWidth <= el.clientWidth + 1 && getComputedStyle(el.parentElement).textOverflow !== 'ellipsis' })()")).toBe(true)
        expect(await seriousAxeViolations(page), `alarms ${colorScheme} ${size}`).toEqual([])
        await screenshot(page, `console-alarms-${size}-${colorScheme}-list.png`)

        await page.evaluate("fetch('/api/session', { method: 'DELETE' })")
        await page.locator('.session-ended').waitFor()
        expect(await seriousAxeViolations(page), `session ended ${colorScheme} ${size}`).toEqual([])
        await screenshot(page, `console-alarms-${size}-${colorScheme}-session-ended.png`)
        await page.context().close()
      }
    }
  }, 120_000)

  it('offers every district the operator may see in the filter, not only those with open alarms', async () => {
    const page = await newPage({ viewport: DESKTOP })
    await signIn(page, 'ops')
    const district = page.getByLabel('District')
    await expect.poll(() => district.locator('option').allTextContents()).toEqual(['All districts', 'east', 'north', 'south'])
  })

  it('keeps an alarm the stream brought while the open-alarm list was on its way, when the list predates it', async () => {
    const page = await newPage()
    let heldAnswers = 0
    let isAnswered = false
    // The first list the page asks for is answered as the server made it before lp-6's alarm, but
    // handed over only once the stream has brought that alarm to the page.
    await page.route((url) => url.pathname === '/api/alarms' && url.searchParams.get('state') === 'open', async (route) => {
      if (heldAnswers > 0) return route.continue()
      heldAnswers++
      const listed = await route.fetch()
      await publish('lp-6', { commandedLevel: 0, supplyVoltage: 230, activePower: 0.4, doorOpen: true })
      // The gateway sends an alarm on the stream before the reading's PUBACK: the card shows while the answer is held.
      await card(page, 'lp-6').waitFor({ timeout: 5000 })
      await route.fulfill({ response: listed })
      isAnswered = true
    })
    await signIn(page, 'crew-north')
    // The held answer waits for a publish and for the card (up to 5 s): poll's default second is too short under load.
    await expect.poll(() => isAnswered, { timeout: 10_000 }).toBe(true)
    // The page takes the answer in within milliseconds; replacing its list with the answer alone dropped the card.
    await page.waitForTimeout(500)
    expect(await card(page, 'lp-6').isVisible()).toBe(true)
    expect((await deviceOrder(page)).filter((id) => id === 'lp-6')).toHaveLength(1)
  })
})
