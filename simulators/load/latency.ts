// Publish→PUBACK latency for the load mode: microseconds recorded into an HDR histogram
// (hdr-histogram-js: fixed memory, 3 significant digits at any value, exact count and max) and
// summarised in milliseconds. Values above an hour are clamped to it rather than lost.
import * as hdr from 'hdr-histogram-js'

export interface LatencySummary {
  count: number
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
  mean: number
}

export interface LatencyRecorder {
  record(valueMs: number): void
  summary(): LatencySummary
  /** The histogram, compressed (HdrHistogram's base64 format), for summariseMerged in another process. */
  encoded(): string
}

const HOUR_US = 3_600_000_000

function ms (us: number): number {
  return Math.round(us / 10) / 100
}

function buildHistogram (): hdr.Histogram {
  return hdr.build({ bitBucketSize: 32, lowestDiscernibleValue: 1, highestTrackableValue: HOUR_US, numberOfSignificantValueDigits: 3, useWebAssembly: false })
}

function summaryOf (histogram: hdr.Histogram): LatencySummary {
  if (histogram.totalCount === 0) return { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 }
  return {
    count: histogram.totalCount,
    p50: ms(histogram.getValueAtPercentile(50)),
    p90: ms(histogram.getValueAtPercentile(90)),
    p99: ms(histogram.getValueAtPercentile(99)),
    p999: ms(histogram.getValueAtPercentile(99.9)),
    max: ms(histogram.maxValue),
    mean: ms(histogram.mean),
  }
}

export function createLatencyRecorder (): LatencyRecorder {
  const histogram = buildHistogram()
  return {
    record (valueMs) {
      histogram.recordValue(Math.min(HOUR_US, Math.max(1, Math.round(valueMs * 1000))))
    },
    summary () { return summaryOf(histogram) },
    encoded () { return hdr.encodeIntoCompressedBase64(histogram) },
  }
}

/** The summary of several recorders' latencies together (their `encoded()` histograms, from several load processes). */
export function summariseMerged (encoded: readonly string[]): LatencySummary {
  const merged = buildHistogram()
  for (const text of encoded) merged.add(hdr.decodeFromCompressedBase64(text, 32, false))
  return summaryOf(merged)
}
