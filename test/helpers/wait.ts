// Bounded polling for conditions that become true asynchronously (data reaching InfluxDB).

/** Calls `probe` every intervalMs until it returns a value accepted by `isDone`; throws after timeoutMs. */
export async function eventually<T> (
  probe: () => T | Promise<T>,
  isDone: (value: T) => boolean,
  { timeoutMs = 15_000, intervalMs = 100, what = 'condition' }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: T | undefined
  let lastError: unknown
  while (Date.now() < deadline) {
    try {
      last = await probe()
      if (isDone(last)) return last
    } catch (err) {
      lastError = err
    }
    await new Promise(function pause (resolve) { setTimeout(resolve, intervalMs) })
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}${lastError === undefined ? '' : `; last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)}`}`)
}
