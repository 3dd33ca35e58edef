// The console's Maintenance page in real Chromium against a real gateway: a crew adds a window for
// one of its devices and sees it listed (the gateway has it, created by the crew), sees only its
// districts' windows and targets, and ends a window; axe-core finds no serious violation at phone
// and desktop size, light and dark. Screenshots in test-artifacts/.
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addDevice, addOperator } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { basic } from '../helpers/api-client.ts'
import { BROWSER_TEST_TIMEOUT_MS, closeChromium, DESKTOP, hasChromium, launchChromium, PHONE, screenshot, seriousAxeViolations } from '../helpers/browser.ts'
import { REPO_ROOT, registerCrew, startTestGateway, type TestGateway } from '../helpers/gateway.ts'

type Viewport = { width: number; height: number }
interface Window { id: string; scope: { kind: string; name: string }; createdBy: string; status: string; reason: string }

describe.skipIf(!hasChromium)('console maintenance page in Chromium', { timeout: BROWSER_TEST_TIMEOUT_MS }, () => {
  let gw: TestGateway
  let browser: Browser
  const secrets: Record<string, string> = {}

  async function windows (): Promise<Window[]> {
    const res = await fetch(`${gw.httpUrl}/api/maintenance`, { headers: basic('ops', secrets.ops!) })
    return ((await res.json()) as { windows: Window[] }).windows
  }

  async function addAsOps (body: Record<string, string>): Promise<Window> {
    const res = await fetch(`${gw.httpUrl}/api/maintenance`, { method: 'POST', headers: { ...basic('ops', secrets.ops!), 'content-type': 'application/json' }, body: JSON.stringify(body) })
    expect(res.status).toBe(201)
    return await res.json() as Window
  }

  async function openConsole (name: string, viewport: Viewport): Promise<{ page: Page; errors: string[] }> {
    const context = await browser.newContext({ viewport, deviceScaleFactor: 1 })
    const page = await context.newPage()
    const errors: string[] = []
    page.on('console', (msg) => { if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text())) errors.push(msg.text()) })
    page.on('pageerror', (err) => { errors.push(err.message) })
    await page.goto(gw.httpUrl)
    await page.getByLabel('Name').fill(name)
    await page.getByLabel('Secret').fill(secrets[name]!)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.locator('.live-live').waitFor()
    await page.getByRole('link', { name: 'Maintenance' }).click()
    await page.getByRole('heading', { name: 'Maintenance', level: 1 }).waitFor()
    return { page, errors }
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
    gw = await startTestGateway()
    for (const [id, district] of [['mh-canal-1', 'north'], ['mh-canal-2', 'north'], ['mh-park-4', 'south']] as const) {
      await addDevice(registryPath(gw.dataDir), { id, kind: 'manhole', district })
    }
    secrets['crew-north'] = (await registerCrew(gw.dataDir, 'crew-north', ['north'])).secret
    secrets.ops = (await addOperator(registryPath(gw.dataDir), 'ops')).secret
    await gw.gateway.reloadRegistry()
    browser = await launchChromium()
  }, 120_000)

  afterAll(async () => {
    await closeChromium(browser)
    await gw?.close(true)
  })

  for (const [size, viewport] of [['phone', PHONE], ['desktop', DESKTOP]] as const) {
    it(`a crew adds a window for its device, sees its districts' windows only, and ends one (${size})`, async () => {
      const south = await addAsOps({ device: 'mh-park-4', to: '+1h', reason: `south works ${size}` })
      const north = await addAsOps({ district: 'north', from: '+1h', to: '+2h', reason: `north works ${size}` })
      const { page, errors } = await openConsole('crew-north', viewport)
      const list = page.getByRole('list', { name: 'Maintenance windows' })
      await expect.poll(() => list.textContent(), { timeout: 5000 }).toContain(`north works ${size}`)
      expect(await list.textContent()).not.toContain(`south works ${size}`)
      // Targets are the crew's own devices.
      const options = await page.getByLabel('Which').locator('option').allTextContents()
      expect(options).toEqual(['mh-canal-1', 'mh-canal-2'])

      await page.getByLabel('Which').selectOption('mh-canal-2')
      await page.getByLabel('Lasts').selectOption('+4h')
      await page.getByLabel('Reason').fill(`replacing the cover ${size}`)
      await page.getByRole('button', { name: 'Add window' }).click()
      await expect.poll(() => list.textContent(), { timeout: 5000 }).toContain(`replacing the cover ${size}`)
      const added = (await windows()).find((w) => w.reason === `replacing the cover ${size}`)
      expect(added).toMatchObject({ scope: { kind: 'device', name: 'mh-canal-2' }, createdBy: 'crew-north', status: 'running' })
      await screenshot(page, `console-maintenance-${size}.png`)
      await expectAccessible(page)

      await page.locator(`[data-window-id="${north.id}"]`).getByRole('button', { name: /^Cancel|End now$/ }).click()
      await expect.poll(async () => (await windows()).find((w) => w.id === north.id)?.status, { timeout: 5000 }).toBe('ended')
      await expect.poll(() => page.locator(`[data-window-id="${north.id}"]`).count(), { timeout: 5000 }).toBe(0)
      expect((await windows()).find((w) => w.id === south.id)?.status).toBe('running')
      expect(errors).toEqual([])
      await page.context().close()
    })
  }
})
