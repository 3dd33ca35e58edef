// Free TCP ports on 127.0.0.1: bind, read the port bound, release it. Another process could take it
// before the caller binds it; callers bind right after.
import { createServer } from 'node:net'

/** Binds `port` (0: any) on 127.0.0.1 and releases it: the port that was bound, or null when it was in use. */
function bindAndRelease (port: number): Promise<number | null> {
  return new Promise(function tryBind (resolve, reject) {
    const server = createServer()
    server.once('error', function failed (err: NodeJS.ErrnoException) {
      if (err.code === 'EADDRINUSE') resolve(null)
      else reject(err)
    })
    server.listen(port, '127.0.0.1', function onListening () {
      const address = server.address()
      server.close(function closed () {
        if (address === null || typeof address === 'string') reject(new Error('no port'))
        else resolve(address.port)
      })
    })
  })
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freeLoopbackPort (): Promise<number> {
  const port = await bindAndRelease(0)
  if (port === null) throw new Error('no free port')
  return port
}

/** Whether `port` on 127.0.0.1 was free a moment ago. */
export async function isFreeLoopbackPort (port: number): Promise<boolean> {
  return await bindAndRelease(port) !== null
}
