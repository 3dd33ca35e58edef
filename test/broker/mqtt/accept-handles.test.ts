import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { expect, it, onTestFinished } from 'vitest'
import { createLogger } from '../../../broker/log.ts'
import { addAcceptHandles } from '../../../broker/mqtt/accept-handles.ts'
import { eventually } from '../../helpers/wait.ts'

const BACKLOG = 1024
const CONNECTIONS = 96
/** Each turn of the busy loop below takes this long, as a turn under telemetry load does. */
const TURN_MS = 3
const MAX_TURNS = 5000

const quiet = createLogger('silent')

async function listening (): Promise<Server> {
  const server = createServer()
  server.listen({ host: '127.0.0.1', port: 0, backlog: BACKLOG })
  await once(server, 'listening')
  onTestFinished(async () => { await new Promise<void>((resolve) => { server.close(() => { resolve() }) }) })
  return server
}

/**
 * Keeps the event loop busy, TURN_MS per turn, while another process opens CONNECTIONS connections
 * (its own process, so the kernel completes them whatever this loop does); returns the most
 * connections accepted within one turn.
 */
async function mostAcceptedPerTurn (server: Server): Promise<number> {
  const sockets: Socket[] = []
  let acceptedThisTurn = 0
  let most = 0
  server.on('connection', (socket: Socket) => {
    sockets.push(socket)
    acceptedThisTurn++
  })
  onTestFinished(() => { for (const socket of sockets) socket.destroy() })
  const { port } = server.address() as AddressInfo
  const client = spawn(process.execPath, ['-e', `
    const net = require('node:net')
    for (let i = 0; i < ${CONNECTIONS}; i++) net.connect(${port}, '127.0.0.1').on('error', () => {})
    setTimeout(() => process.exit(0), 20000)
  `], { stdio: 'ignore' })
  onTestFinished(() => { client.kill() })
  await once(client, 'spawn')
  await new Promise<void>((resolve) => {
    let turns = 0
    function turn (): void {
      const endMs = Date.now() + TURN_MS
      while (Date.now() < endMs) { /* busy, as a loaded gateway */ }
      most = Math.max(most, acceptedThisTurn)
      acceptedThisTurn = 0
      if (sockets.length >= CONNECTIONS || ++turns >= MAX_TURNS) resolve()
      else setImmediate(turn)
    }
    setImmediate(turn)
  })
  expect(sockets).toHaveLength(CONNECTIONS)
  return most
}

/** Closes `server` and listens on its port again: fails (EADDRINUSE) while any descriptor of the old socket is open. */
async function closeAndListenAgain (server: Server, port: number): Promise<void> {
  await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  const again = createServer()
  again.listen({ host: '127.0.0.1', port })
  await once(again, 'listening')
  await new Promise<void>((resolve) => { again.close(() => { resolve() }) })
}

it('a busy loop accepts one connection per turn through one handle (libuv), several through extra handles', async () => {
  const single = await listening()
  expect(await mostAcceptedPerTurn(single)).toBe(1)

  const server = await listening()
  const handles = addAcceptHandles(server, 7, BACKLOG, quiet)
  onTestFinished(() => handles.close())
  await eventually(() => handles.count(), (count) => count === 7, { intervalMs: 10, what: '7 extra handles' })
  expect(await mostAcceptedPerTurn(server)).toBeGreaterThan(1)
})

it('closing the extra handles and the server frees the port: no descriptor of it is left open', async () => {
  const server = await listening()
  const { port } = server.address() as AddressInfo
  const handles = addAcceptHandles(server, 3, BACKLOG, quiet)
  await eventually(() => handles.count(), (count) => count === 3, { intervalMs: 10, what: '3 extra handles' })
  await handles.close()
  expect(handles.count()).toBe(0)
  await closeAndListenAgain(server, port)
})

it('can be closed at any moment while copies are on their way, without a crash or a descriptor left open', async () => {
  for (let i = 0; i < 40; i++) {
    const server = await listening()
    const { port } = server.address() as AddressInfo
    const handles = addAcceptHandles(server, 7, BACKLOG, quiet)
    await new Promise((resolve) => setTimeout(resolve, (i % 20) * 3))
    await handles.close()
    await closeAndListenAgain(server, port)
  }
})

it('adds nothing to a server without a descriptor of its own (a cluster worker\'s stand-in) or when none are asked for', async () => {
  const server = await listening()
  expect(addAcceptHandles(server, 0, BACKLOG, quiet).count()).toBe(0)
  const standIn = createServer()
  expect(addAcceptHandles(standIn, 4, BACKLOG, quiet).count()).toBe(0)
})
