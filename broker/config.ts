// Environment variables (and an optional JSON/YAML config file) → a validated, frozen Config.
// Parsed once in main.ts; a bad value stops the start with a message naming the variable.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { GatewayError } from './errors.ts'

const port = z.coerce.number().int().min(0).max(65535)
const optionalPort = port.optional()
const positiveInt = z.coerce.number().int().positive()
const nonEmpty = z.string().min(1)

/** Every setting, by the environment variable that sets it. Defaults follow CONTRACT.md. */
export const configSchema = z.object({
  MQTT_HOST: nonEmpty.default('0.0.0.0'),
  MQTT_PORT: port.default(1883),
  MQTTS_PORT: optionalPort,
  TLS_CERT: nonEmpty.optional(),
  TLS_KEY: nonEmpty.optional(),
  WS_PORT: optionalPort,
  HTTP_HOST: nonEmpty.default('0.0.0.0'),
  HTTP_PORT: port.default(8080),
  DATA_DIR: nonEmpty.default('./data'),
  INFLUX_URL: z.url({ protocol: /^https?$/ }).optional(),
  INFLUX_API: z.enum(['v1', 'v2']).default('v2'),
  INFLUX_TOKEN: nonEmpty.optional(),
  INFLUX_ORG: nonEmpty.optional(),
  INFLUX_BUCKET: nonEmpty.default('city'),
  INFLUX_DATABASE: nonEmpty.default('city'),
  INFLUX_USERNAME: nonEmpty.optional(),
  INFLUX_PASSWORD: nonEmpty.optional(),
  INFLUX_RETENTION_POLICY: nonEmpty.optional(),
  INFLUX_TIMEOUT_MS: positiveInt.default(10_000),
  INFLUX_BATCH_LINES: positiveInt.default(5000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Largest telemetry payload that is parsed; larger ones get a notice and are kept in `rejected`. */
  MAX_MESSAGE_BYTES: positiveInt.default(64 * 1024),
  /** Largest MQTT packet at all, checked on the wire before it is buffered: larger closes the connection. */
  MAX_PACKET_BYTES: positiveInt.default(256 * 1024),
  /** Readings per telemetry message (a JSON array). */
  MAX_BATCH_READINGS: positiveInt.max(10_000).default(100),
  /** How far back a reading's ts may lie (days). */
  BACKFILL_DAYS: z.coerce.number().positive().default(30),
  SPOOL_MAX_BYTES: positiveInt.default(1024 * 1024 * 1024),
  SPOOL_SEGMENT_BYTES: positiveInt.default(64 * 1024 * 1024),
  /** Extra wait before an fsync so more appends share it; 0 = commit as soon as the disk is free. */
  SPOOL_GROUP_COMMIT_MS: z.coerce.number().min(0).max(1000).default(0),
  /** How often the registry file is checked for changes made by the CLI. */
  REGISTRY_POLL_MS: positiveInt.default(1000),
}).superRefine(function checkCombinations (cfg, ctx) {
  if (cfg.MAX_PACKET_BYTES < cfg.MAX_MESSAGE_BYTES) {
    ctx.addIssue({ code: 'custom', path: ['MAX_PACKET_BYTES'], message: 'must be at least MAX_MESSAGE_BYTES' })
  }
  if (cfg.MQTTS_PORT !== undefined && (cfg.TLS_CERT === undefined || cfg.TLS_KEY === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['MQTTS_PORT'], message: 'needs TLS_CERT and TLS_KEY' })
  }
})

export type Config = Readonly<z.infer<typeof configSchema>>
export type ConfigInput = Record<string, string | number | undefined>

/** Names of the settings, for the README and `citygw config`. */
export const CONFIG_KEYS = Object.keys(configSchema.shape) as (keyof z.infer<typeof configSchema>)[]

/**
 * Builds the Config from environment variables; `CONFIG_FILE` (JSON or YAML, keys named like the
 * variables) supplies values the environment does not set. Throws GatewayError CSG_CONFIG_INVALID
 * naming every bad variable.
 */
export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  const fromFile = env.CONFIG_FILE === undefined ? {} : readConfigFile(env.CONFIG_FILE)
  const input: ConfigInput = { ...fromFile }
  for (const key of CONFIG_KEYS) {
    const value = env[key]
    if (value !== undefined && value !== '') input[key] = value
  }
  const parsed = configSchema.safeParse(input)
  if (!parsed.success) {
    const problems = parsed.error.issues.map(function describeIssue (issue) {
      return `${issue.path.join('.') || '(config)'}: ${issue.message}`
    })
    throw new GatewayError('CSG_CONFIG_INVALID', `invalid configuration: ${problems.join('; ')}`)
  }
  return Object.freeze({ ...parsed.data, DATA_DIR: path.resolve(parsed.data.DATA_DIR) })
}

function readConfigFile (file: string): ConfigInput {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new GatewayError('CSG_CONFIG_INVALID', `CONFIG_FILE: cannot read ${file}`, { cause: err })
  }
  const data: unknown = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text)
  const record = z.record(z.string(), z.union([z.string(), z.number()])).safeParse(data ?? {})
  if (!record.success) {
    throw new GatewayError('CSG_CONFIG_INVALID', `CONFIG_FILE: ${file} must map variable names to strings or numbers`)
  }
  const unknown = Object.keys(record.data).filter(function isUnknownKey (key) {
    return !(CONFIG_KEYS as string[]).includes(key)
  })
  if (unknown.length > 0) {
    throw new GatewayError('CSG_CONFIG_INVALID', `CONFIG_FILE: unknown setting(s) ${unknown.join(', ')}`)
  }
  return record.data
}
