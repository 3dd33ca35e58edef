// The gateway's /metrics (Prometheus text exposition), scraped over HTTP and read a sample at a time.
export interface SpoolDepth { records: number; bytes: number }

/** One sample of a Prometheus text exposition: `name{labels} value` lines. */
export function metricValue (text: string, name: string, labels = ''): number | undefined {
  const prefix = labels === '' ? `${name} ` : `${name}{${labels}} `
  for (const line of text.split('\n')) {
    if (line.startsWith(prefix)) return Number(line.slice(prefix.length))
  }
  return undefined
}

export async function scrape (httpUrl: string): Promise<string> {
  const res = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(5000) })
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`)
  return res.text()
}

export function spoolDepthOf (text: string): SpoolDepth {
  return { records: metricValue(text, 'citygw_spool_depth_records') ?? Number.NaN, bytes: metricValue(text, 'citygw_spool_depth_bytes') ?? Number.NaN }
}

/** Where a gateway's memory is, MB, from its own /metrics (prom-client's Node metrics) beside /proc. */
export interface MemorySplit {
  rss: number
  /** V8's young generation as committed (semi-spaces): sized by --max-semi-space-size, not by load. */
  youngGeneration: number
  /** The rest of the V8 heap as committed (old, code and large-object spaces). */
  restOfHeap: number
  /** Buffers and other memory V8 counts as external. */
  external: number
}

/** The split of `rss` (MB, from /proc) by the gateway's own heap and external-memory metrics. */
export function memorySplit (metrics: string, rss: number): MemorySplit {
  const mb = function mb (name: string, labels?: string): number {
    return Math.round((metricValue(metrics, name, labels) ?? Number.NaN) / 1048576 * 10) / 10
  }
  const youngGeneration = Math.round((mb('citygw_nodejs_heap_space_size_total_bytes', 'space="new"') +
    mb('citygw_nodejs_heap_space_size_total_bytes', 'space="new_large_object"')) * 10) / 10
  return {
    rss,
    youngGeneration,
    restOfHeap: Math.round((mb('citygw_nodejs_heap_size_total_bytes') - youngGeneration) * 10) / 10,
    external: mb('citygw_nodejs_external_memory_bytes'),
  }
}
