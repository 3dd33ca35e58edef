// Baseline for `npm run bench`: a bare Aedes 1.2 broker (no authentication, no validation, no
// storage) on 127.0.0.1 and a free port, in its own process. Prints one JSON line `{ "port" }` on
// stdout once listening; stops on SIGTERM/SIGINT, or by itself after BARE_AEDES_MAX_SEC (default 600).
import { once } from 'node:events'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { Aedes } from 'aedes'

async function main (): Promise<void> {
  const maxSec = Number(process.env.BARE_AEDES_MAX_SEC ?? '600')
  const broker = new Aedes()
  await broker.listen()
  // Same socket treatment as the gateway's listener (broker/mqtt/listeners.ts), minus its size guard.
  const server = createServer(function acceptSocket (socket: Socket) {
    socket.setNoDelay(true)
    socket.on('error', function ignoreSocketError () { /* a load generator disconnecting mid-write */ })
    broker.handle(socket)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  process.stdout.write(`${JSON.stringify({ msg: 'bare aedes started', port, pid: process.pid })}\n`)

  let isStopping = false
  function stop (): void {
    if (isStopping) return
    isStopping = true
    clearTimeout(lifetime)
    server.close()
    broker.close(function brokerClosed () { process.exit(0) })
    setTimeout(function forceExit () { process.exit(0) }, 3000).unref()
  }
  // Bounded: a runner that died without stopping us does not leave a broker behind for long.
  const lifetime = setTimeout(stop, maxSec * 1000)
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  // The runner holds our stdin: when it goes away, so do we.
  process.stdin.on('data', function ignoreInput () { /* only its end matters */ })
  process.stdin.once('end', stop)
}

main().catch(function failed (err: unknown) {
  process.stderr.write(`bare aedes failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
