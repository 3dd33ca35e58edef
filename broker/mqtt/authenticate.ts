// CONNECT credentials → an Identity (a device, a crew or an outside consumer) or a refusal with its reason.
// A consumer's scope (what SensorThings topics it may read) is fixed here, at CONNECT.
// Kind, schema and topics are resolved here once per connection; per-message code only looks up.
import { getKind, type DeviceKind } from '../../devices/index.ts'
import type { ConsumerScope } from '../consumers/scope.ts'
import type { Logger } from '../log.ts'
import type { Registry } from '../registry/registry.ts'
import { verifySecret } from '../registry/secrets.ts'
import { deviceTopics, type DeviceTopics } from './topics.ts'

export interface DeviceIdentity {
  readonly role: 'device'
  readonly id: string
  readonly kind: DeviceKind
  readonly district: string
  readonly location: { lat: number; lon: number } | undefined
  readonly topics: DeviceTopics
  readonly log: Logger
}

export interface CrewIdentity {
  readonly role: 'crew'
  readonly name: string
  /** undefined = every district */
  readonly districts: readonly string[] | undefined
  readonly log: Logger
}

/** An outside consumer: may subscribe to `v1.1/…` within its scope and publish nothing. */
export interface ConsumerIdentity {
  readonly role: 'consumer'
  readonly name: string
  readonly scope: ConsumerScope
  readonly log: Logger
}

export type Identity = DeviceIdentity | CrewIdentity | ConsumerIdentity

export type AuthRefusal = 'anonymous' | 'unknown_user' | 'bad_secret' | 'client_id_mismatch' | 'unknown_kind' | 'cert_mismatch'

export type AuthOutcome = { ok: true; identity: Identity } | { ok: false; reason: AuthRefusal }

/**
 * @param certCn CN of a client certificate the TLS listener verified against TLS_CA. When it names a
 *   registered device, the certificate authenticates that device: the password may be omitted (if
 *   given it must still match), a username must equal the CN, and so must the client id.
 */
export function authenticateClient (
  registry: Registry,
  log: Logger,
  clientId: string,
  username: string | undefined,
  password: Buffer | undefined,
  certCn?: string,
): AuthOutcome {
  const certDevice = certCn === undefined ? undefined : registry.getDevice(certCn)
  if (certCn !== undefined && certDevice !== undefined) {
    if (username !== undefined && username !== '' && username !== certCn) return { ok: false, reason: 'cert_mismatch' }
    username = certCn
  } else if (username === undefined || username === '' || password === undefined) {
    return { ok: false, reason: 'anonymous' }
  }

  const device = certDevice ?? registry.getDevice(username)
  if (device !== undefined) {
    const isCertified = certDevice !== undefined
    if (password === undefined ? !isCertified : !verifySecret(password, device.secretHash)) return { ok: false, reason: 'bad_secret' }
    if (clientId !== username) return { ok: false, reason: 'client_id_mismatch' }
    const kind = getKind(device.kind)
    if (kind === undefined) return { ok: false, reason: 'unknown_kind' }
    return {
      ok: true,
      identity: {
        role: 'device',
        id: username,
        kind,
        district: device.district,
        location: device.lat !== undefined && device.lon !== undefined ? { lat: device.lat, lon: device.lon } : undefined,
        topics: deviceTopics(username),
        log: log.child({ deviceId: username, kind: kind.name }),
      },
    }
  }

  const crew = registry.getCrew(username)
  if (crew !== undefined) {
    if (password === undefined || !verifySecret(password, crew.secretHash)) return { ok: false, reason: 'bad_secret' }
    return {
      ok: true,
      identity: {
        role: 'crew',
        name: username,
        districts: crew.districts,
        log: log.child({ crew: username, clientId }),
      },
    }
  }

  const consumer = registry.getConsumer(username)
  if (consumer !== undefined) {
    // The password is the whole token `<name>.<random>`, as over HTTP.
    if (password === undefined || !verifySecret(password, consumer.secretHash)) return { ok: false, reason: 'bad_secret' }
    return { ok: true, identity: { role: 'consumer', name: username, scope: consumer.scope, log: log.child({ consumer: username, clientId }) } }
  }
  return { ok: false, reason: 'unknown_user' }
}
