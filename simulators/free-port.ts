// Free TCP ports on 127.0.0.1: bind port 0, read the port the kernel chose, release it. Another
// process could take it before the caller binds it; callers bind right after.
import { createServer } from 'node:net'

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freeLoopbackPort (): Promise<number> {
  return new Promise(function findPort (resolve, reject) {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', function onListening () {
      const address = server.address()
      server.close(function closed () {
        if (address === null || typeof address === 'string') reject(new Error('no port'))
        else resolve(address.port)
      })
    })
  })
}
