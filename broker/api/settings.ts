// The API's settings from the configuration: session and trusted-device lifetimes, the failed-sign-in limit, alarm-stream limits,
// and what the console is told about maps.
import { API_STREAM_HEARTBEAT_MS, type Config } from '../config.ts'
import type { ApiOptions } from './context.ts'

type ApiSettings = Pick<ApiOptions, 'sessionTtlMs' | 'deviceTtlMs' | 'heartbeatMs' | 'failedSignInsPerMinute' | 'streamBufferBytes' | 'streamDrainTimeoutMs' | 'streamsPerAccount' | 'limitLogIntervalMs' | 'consumerRatePerMin' | 'console'>

export function apiSettingsOf (config: Config): ApiSettings {
  return {
    sessionTtlMs: config.API_SESSION_TTL_SEC * 1000,
    deviceTtlMs: config.API_DEVICE_TTL_DAYS * 24 * 60 * 60 * 1000,
    heartbeatMs: API_STREAM_HEARTBEAT_MS,
    failedSignInsPerMinute: config.API_SIGNIN_PER_MIN,
    streamBufferBytes: config.API_STREAM_BUFFER_BYTES,
    streamDrainTimeoutMs: config.API_STREAM_DRAIN_TIMEOUT_MS,
    streamsPerAccount: config.API_STREAMS_PER_ACCOUNT,
    limitLogIntervalMs: config.LIMIT_LOG_INTERVAL_SEC * 1000,
    consumerRatePerMin: config.CONSUMER_RATE_PER_MIN,
    console: {
      mapTileUrl: config.MAP_TILE_URL ?? null,
      mapAttribution: config.MAP_TILE_URL === undefined ? null : config.MAP_TILE_ATTRIBUTION,
      mapsUrl: config.MAP_NAV_URL,
    },
  }
}
