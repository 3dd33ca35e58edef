// A listening socket → more handles on it, so that a busy event loop accepts several connections per
// turn. libuv (1.45 and later, Node 20) accepts one connection per readiness event of a listening
// handle: under full telemetry load a turn lasts milliseconds, and a reconnect storm of 20,000
// devices would wait for the kernel's listen queue at a few hundred accepts per second. Each extra
// handle is its own file descriptor for the same socket, polled on its own, so every turn accepts up
// to one connection per handle. Node 20 has neither dup() nor SO_REUSEPORT, so the descriptors are
// made the way Node passes sockets between processes: a short-lived child receives the handle over
// IPC and sends it back, and each round trip arrives here as a new descriptor.
import { spawn } from 'node:child_process'
import { createServer, type Server, type Socket } from 'node:net'
import type { Logger } from '../log.ts'

/** Sends every handle it receives straight back; exits when the parent disconnects. */
const ECHO_CHILD = "process.on('message', function echo (_m, handle) { process.send('copy', handle) })"
/** Bound on the child's start and its round trips; the listener works without copies meanwhile. */
const COPY_TIMEOUT_MS = 10_000

export interface AcceptHandles {
  /** How many extra handles accept connections now. */
  count(): number
  /** Stops the extra handles (the socket stays open while the main server listens). */
  close(): Promise<void>
}

/** The part of a listening server's native handle this needs; `fd` is absent on cluster workers' stand-ins. */
interface NativeHandle { fd?: number }

/**
 * Adds `extra` handles on `server`'s listening socket; every connection they accept is emitted as
 * `server`'s own 'connection' (how net, TLS and HTTP servers take sockets from elsewhere). Resolves at
 * once: the handles join as they arrive. `backlog` must be what `server` listened with, since each
 * handle's listen() sets the socket's queue length again.
 */
export function addAcceptHandles (server: Server, extra: number, backlog: number, log: Logger): AcceptHandles {
  const copies: Server[] = []
  let isClosed = false
  const native = (server as unknown as { _handle?: NativeHandle | null })._handle
  // A cluster worker's server has a stand-in without a descriptor; its primary accepts.
  if (extra <= 0 || native?.fd === undefined || native.fd < 0 || process.platform === 'win32') {
    return { count () { return 0 }, async close () {} }
  }

  const env = { ...process.env }
  delete env.NODE_OPTIONS // the echo needs no loaders or flags of the gateway's
  const child = spawn(process.execPath, ['-e', ECHO_CHILD], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], env })
  // Until the child and its channel are gone, a descriptor of the socket may live there or in the
  // channel: the port is not free before.
  const childGone = new Promise<void>(function whenGone (resolve) {
    function check (): void {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
        if (!child.connected) resolve()
      }
    }
    child.on('exit', check)
    child.on('disconnect', check)
    child.once('error', function failed () { resolve() })
  })
  // One round trip at a time, and the channel is closed only between two: Node acknowledges a
  // handle message as it arrives and asserts when the channel was disconnected meanwhile.
  let isDone = false
  const timer = setTimeout(function giveUp () {
    warnFewer(`no handle back within ${COPY_TIMEOUT_MS} ms`)
    isDone = true
    child.kill('SIGKILL')
  }, COPY_TIMEOUT_MS)
  timer.unref()

  function warnFewer (problem: string): void {
    if (isClosed || isDone) return
    log.warn({ module: 'listeners', reason: 'accept_handles', handles: copies.length + 1, problem }, 'listener accepts through fewer handles than planned: a reconnect storm is accepted more slowly')
  }

  function done (): void {
    isDone = true
    clearTimeout(timer)
    if (child.connected) child.disconnect()
  }

  function requestCopy (): void {
    if (isClosed) {
      done()
      return
    }
    child.send('copy', native as never)
  }

  child.on('error', function spawnFailed (err) {
    warnFewer(err.message)
    done()
  })
  child.on('exit', function exited (code) {
    if (copies.length < extra) warnFewer(`the copying process exited (${String(code)})`)
    done()
  })
  child.on('message', function received (_message: unknown, handle: unknown) {
    if (handle === undefined || isClosed) {
      closeHandle(handle)
      if (!isClosed) done()
      return
    }
    const copy = createServer()
    copy.on('connection', function forward (socket: Socket) { server.emit('connection', socket) })
    copy.on('error', function copyFailed (err) { log.warn({ module: 'listeners', reason: 'accept_handles', err: { message: err.message } }, 'an extra accept handle failed') })
    copy.listen(handle as NativeHandle, backlog)
    copies.push(copy)
    if (copies.length < extra) {
      requestCopy()
      return
    }
    done()
    log.debug({ module: 'listeners', handles: copies.length + 1 }, 'listener accepts through several handles')
  })
  child.on('spawn', requestCopy)

  return {
    count () { return copies.length },
    async close () {
      isClosed = true
      clearTimeout(timer)
      // Killed rather than disconnected: a handle message on its way would meet a closed channel.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await childGone
      await Promise.all(copies.map(function stop (copy) {
        return new Promise<void>(function closed (resolve) { copy.close(function done () { resolve() }) })
      }))
      copies.length = 0
    },
  }
}

function closeHandle (handle: unknown): void {
  const closable = handle as { close?: () => void } | undefined
  closable?.close?.()
}
