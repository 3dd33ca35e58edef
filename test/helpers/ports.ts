// Free TCP ports for test servers: binds 127.0.0.1:0, reads the port the kernel chose, releases it.
// Another process could take the port before the server binds it; servers are started right after.
import { createServer } from 'node:net'

/** Resolves with a TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', function onListening () {
      const address = server.address()
      if (address === null || typeof address === 'string') {
        server.close()
        reject(new Error('could not read the port of a 127.0.0.1:0 listener'))
        return
      }
      server.close(function onClosed () { resolve(address.port) })
    })
  })
}
