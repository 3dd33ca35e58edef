// Latency samples for the bench: a bounded reservoir (Vitter's algorithm R) and percentiles by
// sorting it. Enters: milliseconds; leaves: p50/p90/p99/p99.9/max. Memory stays under `capacity`
// doubles whatever the run length; max and count are exact, percentiles are sampled past capacity.

export interface LatencySummary {
  count: number
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
  mean: number
}

export interface Sampler {
  add(valueMs: number): void
  samples(): { values: Float64Array; count: number; max: number; sum: number }
}

export function createSampler (capacity: number, random: () => number): Sampler {
  const values = new Float64Array(capacity)
  let count = 0
  let max = 0
  let sum = 0
  return {
    add (valueMs) {
      count++
      sum += valueMs
      if (valueMs > max) max = valueMs
      if (count <= capacity) {
        values[count - 1] = valueMs
        return
      }
      const slot = Math.floor(random() * count)
      if (slot < capacity) values[slot] = valueMs
    },
    samples () {
      return { values: values.subarray(0, Math.min(count, capacity)), count, max, sum }
    },
  }
}

function round (ms: number): number {
  return Math.round(ms * 100) / 100
}

/** Nearest-rank percentiles over the kept samples. */
export function summarise ({ values, count, max, sum }: ReturnType<Sampler['samples']>): LatencySummary {
  const sorted = Float64Array.from(values).sort()
  function at (p: number): number {
    if (sorted.length === 0) return 0
    const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
    return round(sorted[rank] ?? 0)
  }
  return { count, p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: round(max), mean: round(count === 0 ? 0 : sum / count) }
}
