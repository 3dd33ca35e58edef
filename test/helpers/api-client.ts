// HTTP API clients for e2e tests: Basic headers, cookie sign-in, and a server-sent-events reader
// over fetch with bounded waits.

export function basic (name: string, secret: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${name}:${secret}`).toString('base64')}` }
}

/** Signs in and returns the `cookie` header to send afterwards. */
export async function signIn (httpUrl: string, name: string, secret: string): Promise<Record<string, string>> {
  const res = await fetch(`${httpUrl}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, secret }) })
  if (res.status !== 200) throw new Error(`sign-in as ${name}: ${res.status} ${await res.text()}`)
  const cookie = res.headers.get('set-cookie')?.split(';')[0]
  if (cookie === undefined) throw new Error('no session cookie')
  return { cookie }
}

export async function getJson (url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { headers })
  return { status: res.status, body: await res.json() as Record<string, unknown> }
}

export interface SseEvent { event: string; data: string }

/**
 * Reads an SSE response block by block (a block ends at a blank line) until it ends or `close()`
 * aborts it. The reader keeps nothing itself: `onBlock` decides what to keep.
 */
export async function readSseBlocks (url: string, headers: Record<string, string>, onBlock: (block: string) => void) {
  const controller = new AbortController()
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal })
  let ended = false
  const reading = (async function readBlocks () {
    if (res.body === null) return
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true })
        let cut: number
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          onBlock(buffer.slice(0, cut))
          buffer = buffer.slice(cut + 2)
        }
      }
    } catch {
      // aborted by close()
    } finally {
      ended = true
    }
  })()
  return {
    response: res,
    get ended () { return ended },
    async close () {
      controller.abort()
      await reading
    },
  }
}

/** Opens an SSE stream; `waitFor` resolves with the first collected event matching `match`. */
export async function openEventStream (url: string, headers: Record<string, string>) {
  const events: SseEvent[] = []
  const stream = await readSseBlocks(url, headers, function keepEvent (block) {
    const event = /^event: (.*)$/m.exec(block)?.[1]
    const data = /^data: (.*)$/m.exec(block)?.[1]
    if (event !== undefined && data !== undefined) events.push({ event, data })
  })
  const res = stream.response
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    events,
    get ended () { return stream.ended },
    async waitFor (match: (e: SseEvent) => boolean, timeoutMs = 5000): Promise<SseEvent> {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = events.find(match)
        if (found !== undefined) return found
        if (Date.now() > deadline) throw new Error(`no matching SSE event in ${timeoutMs} ms; got ${JSON.stringify(events)}`)
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
    },
    close () { return stream.close() },
  }
}
