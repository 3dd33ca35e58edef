// Deterministic pseudo-random numbers for the simulators: a seed (and a device id) in, the same
// stream out on every run and machine. mulberry32: tiny, fast, good enough for sensor noise.

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), so a seed repeats a run. */
export function createRandom (seed: number): () => number {
  let state = seed >>> 0
  return function nextRandom () {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A seed for one device of a run: adding a device never changes the others' streams. */
export function deviceSeed (seed: number, deviceId: string, salt = ''): number {
  let hash = 0x811c9dc5 ^ (seed >>> 0) // FNV-1a over the id, started from the run's seed
  for (const char of `${deviceId}#${salt}`) {
    hash ^= char.charCodeAt(0)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash >>> 0
}

/** Standard normal variate (Box–Muller). */
export function gaussian (random: () => number): number {
  const u = Math.max(random(), Number.EPSILON)
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random())
}

/** Uniform in [min, max). */
export function between (random: () => number, min: number, max: number): number {
  return min + random() * (max - min)
}

export function clamp (value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value))
}

/** Rounds to `decimals` places, as a device's firmware would before sending. */
export function round (value: number, decimals: number): number {
  const factor = 10 ** decimals
  return Math.round(value * factor) / factor
}
