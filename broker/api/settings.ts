// The API's settings from the configuration: sessions, the failed-sign-in limit, alarm-stream limits,
// and what the console is told about maps.
import { API_MAX_SESSIONS, API_STREAM_HEARTBEAT_MS, type Config } from '../config.ts'
import type { ApiOptions } from './context.ts'

type ApiSettings = Pick<ApiOptions, 'sessionTtlMs' | 'maxSessions' | 'heartbeatMs' | 'failedSignInsPerMinute' | 'streamBufferBytes' | 'streamDrainTimeoutMs' | 'streamsPerAccount' | 'limitLogIntervalMs' | 'console'>

export function apiSettingsOf (config: Config): ApiSettings {
  return {
    sessionTtlMs: config.API_SESSION_TTL_SEC * 1000,
    maxSessions: API_MAX_SESSIONS,
    heartbeatMs: API_STREAM_HEARTBEAT_MS,
    failedSignInsPerMinute: config.API_SIGNIN_PER_MIN,
    streamBufferBytes: config.API_STREAM_BUFFER_BYTES,
    streamDrainTimeoutMs: config.API_STREAM_DRAIN_TIMEOUT_MS,
    streamsPerAccount: config.API_STREAMS_PER_ACCOUNT,
    limitLogIntervalMs: config.LIMIT_LOG_INTERVAL_SEC * 1000,
    console: {
      mapTileUrl: config.MAP_TILE_URL ?? null,
      mapAttribution: config.MAP_TILE_URL === undefined ? null : config.MAP_TILE_ATTRIBUTION,
      mapsUrl: config.MAP_NAV_URL,
    },
  }
}
