// Real Chromium for the console's tests (Debian's chromium-headless-shell, or /usr/bin/chromium
// where notifications are tested, through playwright-core): launching it, the two viewports the
// console is built for, screenshots kept under test-artifacts/, and an accessibility check with
// axe-core injected into the page.
import { existsSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserServer, type Page } from 'playwright-core'
import { REPO_ROOT } from './gateway.ts'

/**
 * The same Blink as Chromium without the browser's shell: pages, service workers, offline, axe and
 * screenshots work alike, for about a third of the CPU (two console test files: 58 s against 177 s).
 * It refuses notifications, so a test of those asks for the whole browser.
 */
export const CHROMIUM_HEADLESS_SHELL = '/usr/bin/chromium-headless-shell'
export const CHROMIUM = '/usr/bin/chromium'
export const hasChromium = existsSync(CHROMIUM_HEADLESS_SHELL) && existsSync(CHROMIUM)
export const ARTIFACTS = join(REPO_ROOT, 'test-artifacts')
export const PHONE = { width: 390, height: 844 } as const
export const DESKTOP = { width: 1280, height: 860 } as const
/**
 * A console test's time limit: signing in, axe-core in both themes and screenshots take Chromium
 * tens of seconds of CPU, which on two busy cores is more than vitest's default.
 */
export const BROWSER_TEST_TIMEOUT_MS = 90_000

const FLAGS = ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

// Chromium runs as a browser server the tests connect to, so that its process can be killed when
// closing it hangs (a context with a service worker, on a busy machine): a hung close would
// otherwise time out the test file's teardown and leave Chromium running.
const servers = new WeakMap<Browser, BrowserServer>()
const CLOSE_WAIT_MS = 10_000

/** Launches the headless shell, or with `notifications` the whole browser, which can show them. */
export async function launchChromium (options: { notifications?: boolean } = {}): Promise<Browser> {
  await mkdir(ARTIFACTS, { recursive: true })
  const executablePath = options.notifications === true ? CHROMIUM : CHROMIUM_HEADLESS_SHELL
  const server = await chromium.launchServer({ executablePath, headless: true, chromiumSandbox: false, args: FLAGS })
  try {
    const browser = await chromium.connect(server.wsEndpoint())
    servers.set(browser, server)
    return browser
  } catch (err) {
    await server.kill()
    throw err
  }
}

/** Closes the browser (a connected browser closes its contexts with it); kills Chromium when that takes over 10 s. Never throws. */
export async function closeChromium (browser: Browser | undefined): Promise<void> {
  if (browser === undefined) return
  const server = servers.get(browser)
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => { resolve('late') }, CLOSE_WAIT_MS) })
  const closing = (async () => {
    await browser.close().catch(() => {})
    await server?.close()
  })()
  const outcome = await Promise.race([closing.then(() => 'closed' as const), late])
  clearTimeout(timer)
  if (outcome === 'late') {
    process.stderr.write(`Chromium did not close within ${CLOSE_WAIT_MS} ms: killed\n`)
    await server?.kill()
  }
}

/** A full-page screenshot in test-artifacts/ (kept by CI as an artifact). */
export async function screenshot (page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true })
}

export interface AxeViolation { id: string; impact: string | null; help: string; targets: string[] }

const axeSource = createRequire(import.meta.url).resolve('axe-core/axe.min.js')

/**
 * Runs axe-core (WCAG 2.x A and AA rules, colour contrast included) on the page as it is now and
 * returns the violations of impact `serious` or `critical`.
 */
export async function seriousAxeViolations (page: Page): Promise<AxeViolation[]> {
  // Evaluated rather than added as a <script>: the console's CSP refuses inline scripts.
  await page.evaluate(await readFile(axeSource, 'utf8'))
  const violations = await page.evaluate(async function runAxe () {
    // Runs in the page: globalThis is its window, which axe-core's script extended.
    const page = globalThis as unknown as { document: unknown; axe: { run(context: unknown, options: unknown): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }> } }
    const result = await page.axe.run(page.document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
    return result.violations.map(function brief (v) { return { id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map(function at (n) { return n.target.join(' ') }) } })
  })
  return violations.filter(function isSerious (v) { return v.impact === 'serious' || v.impact === 'critical' })
}
