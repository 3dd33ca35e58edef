// Vite build of the crew console (console/ → console/dist): the page, and the service worker as
// a second entry written unhashed to /sw.js. After bundling, the worker gets this build's file
// list and a version derived from it, so a new build installs a new cache and drops the old one.
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { defineConfig, type Plugin } from 'vite'

const CONSOLE_DIR = fileURLToPath(new URL('./console', import.meta.url))
const PUBLIC_DIR = join(CONSOLE_DIR, 'public')
const WORKER = 'sw'

function publicFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(function walk (entry) {
    const full = join(dir, entry.name)
    return entry.isDirectory() ? publicFiles(full) : [full]
  })
}

/** Writes the shell's file list and version into the worker's `'__SHELL_MANIFEST__'` placeholder. */
function shellManifest (): Plugin {
  return {
    name: 'console-shell-manifest',
    enforce: 'post',
    generateBundle (_options, bundle) {
      const hash = createHash('sha256')
      const files: string[] = []
      for (const file of Object.values(bundle).sort(function byName (a, b) { return a.fileName.localeCompare(b.fileName) })) {
        if (file.type === 'chunk' && file.name === WORKER) continue
        hash.update(file.fileName)
        hash.update(file.type === 'chunk' ? file.code : file.source)
        if (file.fileName !== 'index.html' && !file.fileName.startsWith('.vite/')) files.push(`/${file.fileName}`)
      }
      for (const full of publicFiles(PUBLIC_DIR)) {
        const name = `/${relative(PUBLIC_DIR, full).split(sep).join('/')}`
        hash.update(name)
        hash.update(readFileSync(full))
        files.push(name)
      }
      const manifest = JSON.stringify({ version: hash.digest('hex').slice(0, 16), files })
      const worker = Object.values(bundle).find(function isWorker (file) { return file.type === 'chunk' && file.name === WORKER })
      if (worker?.type !== 'chunk') throw new Error('console build: the service worker entry is missing')
      const placeholder = /(["'`])__SHELL_MANIFEST__\1/
      if (!placeholder.test(worker.code)) throw new Error('console build: the service worker has no __SHELL_MANIFEST__ placeholder')
      worker.code = worker.code.replace(placeholder, function inline () { return JSON.stringify(manifest) })
    },
  }
}

export default defineConfig({
  root: CONSOLE_DIR,
  publicDir: PUBLIC_DIR,
  logLevel: 'warn',
  build: {
    outDir: join(CONSOLE_DIR, 'dist'),
    emptyOutDir: true,
    rollupOptions: {
      input: { main: join(CONSOLE_DIR, 'index.html'), [WORKER]: join(CONSOLE_DIR, 'sw', 'sw.ts') },
      output: {
        entryFileNames (chunk) { return chunk.name === WORKER ? 'sw.js' : 'assets/[name]-[hash].js' },
      },
    },
  },
  plugins: [shellManifest()],
})
