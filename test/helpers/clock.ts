// A clock a test moves by hand, for modules that take `now`.

export function clock (startMs = 1_000_000): { now: () => number; advance(ms: number): void } {
  let t = startMs
  return { now: () => t, advance (ms: number) { t += ms } }
}
