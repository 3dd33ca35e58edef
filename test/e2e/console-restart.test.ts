// The crew console in real Chromium across a gateway restart: a crew signs in, the gateway stops
// and starts again on the same HTTP port and DATA_DIR, and the page comes back to live alarm updates
// by itself, without the sign-in form (its session was kept in sessions.json); an alarm raised by an
// MQTT.js device after the restart appears in its list.
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { MqttClient } from 'mqtt'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BROWSER_TEST_TIMEOUT_MS, closeChromium, hasChromium, launchChromium, PHONE, screenshot } from '../helpers/browser.ts'
import { REPO_ROOT, registerCrew, registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { connectDevice } from '../helpers/mqtt.ts'
import { freePort } from '../helpers/ports.ts'
import { removeTempDir } from '../helpers/server-process.ts'

describe.skipIf(!hasChromium)('console across a gateway restart', { timeout: BROWSER_TEST_TIMEOUT_MS }, () => {
  let gw: TestGateway | undefined
  let dataDir: string
  let env: Record<string, string>
  let browser: Browser | undefined
  let device: MqttClient | undefined
  let crewSecret: string
  let deviceSecret: string

  beforeAll(async () => {
    await promisify(execFile)('bash', [join(REPO_ROOT, 'scripts/build-console.sh')], { cwd: REPO_ROOT, timeout: 60_000 })
    // A fixed port: the page's cookies and its alarm stream's reconnects go to the same origin.
    env = { HTTP_PORT: String(await freePort()) }
    gw = await startTestGateway({ env })
    dataDir = gw.dataDir
    crewSecret = (await registerCrew(dataDir, 'crew-north', ['north'])).secret
    deviceSecret = (await registerDevice(dataDir, 'mh-restart-1', 'manhole', 'north')).secret
    await gw.gateway.reloadRegistry()
    browser = await launchChromium()
  }, 90_000)
  afterAll(async () => {
    await device?.endAsync(true)
    await closeChromium(browser)
    await gw?.close()
    if (dataDir !== undefined) await removeTempDir(dataDir)
  })

  it('comes back live without signing in again, and shows an alarm raised after the restart', async () => {
    const context = await browser!.newContext({ viewport: PHONE, deviceScaleFactor: 1 })
    const page = await context.newPage()
    await page.goto(gw!.httpUrl)
    await page.getByLabel('Name').fill('crew-north')
    await page.getByLabel('Secret').fill(crewSecret)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.locator('.live-live').waitFor({ timeout: 10_000 })

    await gw!.close()
    // The page notices: its alarm stream is gone.
    await page.locator('.live-live').waitFor({ state: 'detached', timeout: 10_000 })
    gw = await startTestGateway({ dataDir, env })

    await page.locator('.live-live').waitFor({ timeout: 20_000 })
    expect(await page.getByLabel('Secret').count()).toBe(0)
    expect(await page.getByRole('button', { name: 'Sign in' }).count()).toBe(0)

    device = await connectDevice(gw.mqttUrl, 'mh-restart-1', deviceSecret)
    await device.publishAsync('devices/mh-restart-1/telemetry', JSON.stringify({ ts: Date.now(), coverAngle: 120 }), { qos: 1 })
    await page.locator('li.alarm[data-device-id="mh-restart-1"]').waitFor({ timeout: 10_000 })
    await screenshot(page, 'console-restart-phone.png')
    await context.close()
  }, 90_000)
})
