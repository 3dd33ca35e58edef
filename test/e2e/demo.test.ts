// `npm run demo` tells a newcomer where the crew console is and how to sign in, and the console
// answers at that address with that account while the demo runs (the demo itself, as a child
// process, with its private InfluxDB).
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { expect, it, onTestFinished } from 'vitest'
import { getJson, signIn } from '../helpers/api-client.ts'
import { REPO_ROOT } from '../helpers/gateway.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'

it('prints the console URL with a crew sign-in that works while the demo runs', async () => {
  const dataDir = await makeTempDir('citygw-demo-test-')
  onTestFinished(() => removeTempDir(dataDir))
  const demo = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'simulators/demo.ts'), '--duration', '8'], {
    cwd: REPO_ROOT,
    env: { ...process.env, DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<number | null>((resolve) => demo.once('exit', resolve))
  onTestFinished(() => { demo.kill('SIGKILL') })
  const lines: string[] = []
  const consoleLine = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no console line within 30 s:\n${lines.join('\n')}`)), 30_000)
    createInterface({ input: demo.stdout }).on('line', (line) => {
      lines.push(line)
      if (line.startsWith('Crew console:')) {
        clearTimeout(timer)
        resolve(line)
      }
    })
  })
  const match = /^Crew console: (http:\/\/127\.0\.0\.1:\d+)\/ \(sign in as "([^"]+)" with secret (\S+);/.exec(consoleLine)
  expect(match, consoleLine).not.toBeNull()
  const [, httpUrl, name, secret] = match as unknown as [string, string, string, string]
  const page = await fetch(`${httpUrl}/`)
  expect(page.status).toBe(200)
  expect(page.headers.get('content-type')).toMatch(/text\/html/)
  const session = await signIn(httpUrl, name, secret)
  const me = await getJson(`${httpUrl}/api/session`, session)
  expect(me.status).toBe(200)
  expect(me.body).toMatchObject({ name: 'demo-crew' })
  expect(await exited).toBe(0)
  expect(lines.some((line) => line.startsWith('Done:'))).toBe(true)
}, 90_000)
