// Before any test file: the compiled build (dist/, console/dist) up to date with the sources, as
// `npm start` runs it, because child processes of the tests run `citygw` from it. Does nothing
// when nothing changed since the last build.
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))

export default function buildOnce (): void {
  execFileSync('bash', [join(REPO_ROOT, 'scripts/build.sh')], { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit'] })
}
