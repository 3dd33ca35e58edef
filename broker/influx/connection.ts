// Config in; how to reach InfluxDB out (API, URL, credentials, database or bucket, request
// deadline), or undefined when INFLUX_URL is unset. The one mapping from INFLUX_* settings, shared
// by the sink (create-sink.ts) and the console's series reader (api/series.ts). Pure.
import type { Config } from '../config.ts'

export interface InfluxConnection {
  /** 'v2': /api/v2/write with a token; 'v1': /write with basic credentials (INFLUX_API). */
  api: 'v1' | 'v2'
  /** Base URL, e.g. http://influx:8086 (INFLUX_URL). */
  url: string
  /** Deadline of one HTTP request, ms (INFLUX_TIMEOUT_MS). */
  timeoutMs: number
  /** v2: token, organization and bucket. */
  token?: string | undefined
  org?: string | undefined
  bucket: string
  /** v1: database, optional retention policy and basic credentials. */
  database: string
  retentionPolicy?: string | undefined
  username?: string | undefined
  password?: string | undefined
}

/** The INFLUX_* settings as connection options; undefined when INFLUX_URL is not set. */
export function influxConnectionOf (config: Config): InfluxConnection | undefined {
  if (config.INFLUX_URL === undefined) return undefined
  return {
    api: config.INFLUX_API,
    url: config.INFLUX_URL,
    timeoutMs: config.INFLUX_TIMEOUT_MS,
    token: config.INFLUX_TOKEN,
    org: config.INFLUX_ORG,
    bucket: config.INFLUX_BUCKET,
    database: config.INFLUX_DATABASE,
    retentionPolicy: config.INFLUX_RETENTION_POLICY,
    username: config.INFLUX_USERNAME,
    password: config.INFLUX_PASSWORD,
  }
}
