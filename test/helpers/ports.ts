// Free TCP ports for test servers (the same finder the demo uses), and ports for servers that a
// test stops and starts again on the same port.
import { readFile } from 'node:fs/promises'
import { freeLoopbackPort, isFreeLoopbackPort } from '../../simulators/free-port.ts'

export { freeLoopbackPort as freePort }

/** Above the ports services usually listen on. */
const LOWEST_RESTARTABLE_PORT = 20_000
/** Linux's default ephemeral range starts here. */
const DEFAULT_EPHEMERAL_LOW = 32_768
const ATTEMPTS = 64

/**
 * A free port on 127.0.0.1 outside the kernel's ephemeral range. Ports from bind(0) and the source
 * ports of outgoing connections come from that range, so while a server with such a port is down
 * for a restart, the rest of the suite cannot take its port (with a port from bind(0) it did: a
 * NATS node that was stopped could not listen again, "address already in use").
 */
export async function restartablePort (): Promise<number> {
  const ephemeralLow = await ephemeralRangeStart()
  if (ephemeralLow - LOWEST_RESTARTABLE_PORT < 1000) return await freeLoopbackPort()
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const port = LOWEST_RESTARTABLE_PORT + Math.floor(Math.random() * (ephemeralLow - LOWEST_RESTARTABLE_PORT))
    if (await isFreeLoopbackPort(port)) return port
  }
  throw new Error(`no free port below ${ephemeralLow} after ${ATTEMPTS} tries`)
}

async function ephemeralRangeStart (): Promise<number> {
  try {
    const low = Number((await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/)[0])
    return Number.isInteger(low) && low > 0 ? low : DEFAULT_EPHEMERAL_LOW
  } catch {
    return DEFAULT_EPHEMERAL_LOW
  }
}
