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
