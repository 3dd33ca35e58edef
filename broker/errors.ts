// Every fault code the gateway can report. Codes are stable and never reused;
// the README lists exactly these (checked by test/broker/errors.test.ts).

export const ERROR_CODES = {
  CSG_CONFIG_INVALID: 'a configuration value is invalid',
  CSG_DATA_DIR_LOCKED: 'another gateway process is using this DATA_DIR',
  CSG_SPOOL_FULL: 'the spool reached its size quota; new readings are refused until the writer catches up',
  CSG_SPOOL_CORRUPT: 'a spool record failed its checksum; the tail from there on was cut off',
  CSG_SPOOL_CLOSED: 'the spool is closed',
  CSG_SINK_RETRYABLE: 'InfluxDB could not take a batch now (network, 5xx, 429); it will be retried',
  CSG_SINK_REFUSED: 'InfluxDB refused points (4xx); they are quarantined with the reason',
  CSG_SINK_UNAUTHORIZED: 'InfluxDB refused the credentials (401/403); writing is paused',
  CSG_REGISTRY_INVALID: 'the registry file or an entry in it is invalid',
  CSG_REGISTRY_CONFLICT: 'an id or name is already registered',
  CSG_REGISTRY_NOT_FOUND: 'no such device or crew',
  CSG_IMPORT_INVALID: 'a line of a device import is invalid; nothing was imported',
  CSG_PAYLOAD_TOO_LARGE: 'an MQTT packet exceeded MAX_PACKET_BYTES; its connection was closed',
  CSG_TOPIC_FORBIDDEN: 'a client published or subscribed outside its own topics',
  CSG_RULES_INVALID: 'the alarm rules file is invalid (the message names the rule and parameter)',
  CSG_ALARM_STATE_INVALID: 'the saved alarm state in DATA_DIR could not be read',
  CSG_PROTOCOL_VIOLATION: 'a client broke the MQTT protocol (e.g. packet identifier 0 on a QoS 1 or 2 PUBLISH); its connection was closed',
  CSG_AEDES_UNSUPPORTED: 'the installed aedes is not the version whose internals the gateway was written for',
  CSG_PUBLISH_RATE: 'a client published further above its rate than the longest delay allows; its connection was closed without acknowledging',
  CSG_NATS_UNREACHABLE: 'no NATS server of NATS_URL could be reached at start, or JetStream is not enabled there',
  CSG_NATS_AUTH: 'the NATS servers refused the credentials (NATS_USER / NATS_PASSWORD or NATS_TOKEN)',
  CSG_NATS_MISMATCH: 'a JetStream stream or bucket exists with settings other than the configuration asks for (e.g. replicas); it is not changed',
  CSG_DATA_KEY_INVALID: 'the data key file (DATA_KEY_FILE) is unreadable, malformed, or group/other may read it; or `key create` found one already there',
  CSG_DATA_KEY_MISSING: 'personal data is stored encrypted with a key the data key file does not hold (or there is no key file); the gateway does not start',
  CSG_DATA_UNREADABLE: 'an encrypted personal-data value failed authentication (altered, or moved from another field)',
  CSG_NATS_UNAVAILABLE: 'JetStream did not acknowledge in time (no quorum, all servers down); readings are not acknowledged to devices',
  CSG_NGSI_RETRYABLE: 'the NGSI-LD context broker could not take updates now (network, 5xx, 429); they wait, coalesced, and are retried',
  CSG_NGSI_REFUSED: 'the NGSI-LD context broker refused an entity (4xx); it is quarantined with the reason',
  CSG_NGSI_UNAUTHORIZED: 'the NGSI-LD context broker refused the token (401/403); the export is paused and retried',
} as const

export type ErrorCode = keyof typeof ERROR_CODES

export class GatewayError extends Error {
  readonly code: ErrorCode

  constructor (code: ErrorCode, message: string = ERROR_CODES[code], options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'GatewayError'
    this.code = code
  }
}

export function isGatewayError (err: unknown, code?: ErrorCode): err is GatewayError {
  return err instanceof GatewayError && (code === undefined || err.code === code)
}
