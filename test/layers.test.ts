// Which top-level folder may import which: the gateway (broker/, devices/) runs without the
// simulators and without the command line, and the simulators do not reach into the command line,
// so that cli/ stays the one place where both are composed. Reads every import specifier (static,
// `export … from`, `import type` and dynamic `import('…')`) with TypeScript's own pre-parser.
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))

/** Every module specifier in a TypeScript source. */
function importSpecifiers (source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map(function specifier (f) { return f.fileName })
}

async function sourceFiles (folder: string): Promise<string[]> {
  const entries = await readdir(join(REPO_ROOT, folder), { recursive: true })
  return entries.filter(function isTs (e) { return e.endsWith('.ts') }).map(function inRepo (e) { return join(folder, e) })
}

/** `file → specifier` for each relative import of a file under `from/` that lands in one of `forbidden`. */
async function importsInto (from: string, forbidden: string[]): Promise<string[]> {
  const found: string[] = []
  for (const file of await sourceFiles(from)) {
    for (const specifier of importSpecifiers(await readFile(join(REPO_ROOT, file), 'utf8'))) {
      if (!specifier.startsWith('.') && !specifier.startsWith('/')) continue // packages and node: builtins
      const target = relative(REPO_ROOT, resolve(REPO_ROOT, dirname(file), specifier))
      const top = target.split(sep)[0]
      if (top !== undefined && forbidden.includes(top)) found.push(`${file} → ${specifier}`)
    }
  }
  return found
}

describe('layers', () => {
  it('the scanner sees static, type-only, re-exported and dynamic imports', () => {
    const source = [
      "import { a } from '../simulators/a.ts'",
      "import type { B } from '../cli/b.ts'",
      "export { c } from './c.ts'",
      "async function d () { return import('../simulators/d.ts') }",
    ].join('\n')
    expect(importSpecifiers(source)).toEqual(['../simulators/a.ts', '../cli/b.ts', './c.ts', '../simulators/d.ts'])
  })

  it('the gateway (broker/, devices/) imports neither simulators/ nor cli/', async () => {
    expect((await sourceFiles('broker')).length).toBeGreaterThan(20)
    expect(await importsInto('broker', ['simulators', 'cli'])).toEqual([])
    expect(await importsInto('devices', ['simulators', 'cli'])).toEqual([])
  })

  it('the simulators do not import cli/', async () => {
    expect(await importsInto('simulators', ['cli'])).toEqual([])
  })
})
