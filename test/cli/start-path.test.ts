// `citygw start` (and so `npm start`) must not evaluate the simulators: they are loaded only by the
// simulate command's action. Checked on the module graph itself: a child process evaluates what
// the start path evaluates and lists every module resolved (test/helpers/start-path-modules.ts).
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))
const execFileAsync = promisify(execFile)

it('citygw start loads no module under simulators/', async () => {
  const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/helpers/start-path-modules.ts')], {
    cwd: REPO_ROOT,
    timeout: 20_000,
  })
  const urls = JSON.parse(stdout) as string[]
  const inRepo = (path: string): string => pathToFileURL(join(REPO_ROOT, path)).href
  // The probe saw the start path: the command tree, the simulate command's declaration, the gateway.
  expect(urls).toEqual(expect.arrayContaining([inRepo('cli/start.ts'), inRepo('cli/simulate.ts'), inRepo('broker/main.ts')]))
  expect(urls.filter((url) => url.startsWith(inRepo('simulators/')))).toEqual([])
})
