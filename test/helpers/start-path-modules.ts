// A script, run as `node --import tsx test/helpers/start-path-modules.ts`: evaluates what
// `citygw start` evaluates — the command tree (cli/program.ts, built as cli/index.ts builds it) and
// what the start action imports (broker/main.ts) — and prints, as one JSON array on stdout, the URL
// of every module resolved meanwhile. A resolve hook (node:module register(), documented since
// Node 20.6) sees each import once resolved, whatever loads it; it runs on the loader thread and
// reports over a MessagePort.
import { register } from 'node:module'
import { MessageChannel } from 'node:worker_threads'

const HOOKS = `
let port
export function initialize (data) { port = data.port }
export async function resolve (specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context)
  port.postMessage(resolved.url)
  return resolved
}
`

const { port1, port2 } = new MessageChannel()
const urls: string[] = []
// One port keeps messages in order: once the sentinel arrives, everything resolved before it has.
const sentinel = `data:text/javascript,export default ${String(Date.now())}`
const isDone = new Promise<void>(function awaitSentinel (resolve) {
  port1.on('message', function record (url: string) {
    if (url === sentinel) resolve()
    else urls.push(url)
  })
})
register(`data:text/javascript,${encodeURIComponent(HOOKS)}`, import.meta.url, { data: { port: port2 }, transferList: [port2] })

const { createProgram } = await import('../../cli/program.ts')
createProgram()
await import('../../broker/main.ts')
await import(sentinel)
await isDone
port1.close()
process.stdout.write(`${JSON.stringify(urls)}\n`)
