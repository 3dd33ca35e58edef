// `citygw consumer add|remove`: outside consumers in the registry. A consumer's token is
// `<name>.<random>` (so a Bearer token names the entry to check, one hash per request), printed
// once and stored only as a hash; kinds and fields are checked against devices/ before anything is written.
import { getKind, isKindName, kindNames } from '../../devices/index.ts'
import { GatewayError } from '../errors.ts'
import { registryStoreOf, type RegistryTarget } from '../registry/registry-store.ts'
import { assertNameFree } from '../registry/provision.ts'
import { idSchema } from '../registry/schema.ts'
import { generateSecret, hashSecret } from '../registry/secrets.ts'
import { LOCATION_PRECISIONS, type ConsumerScope, type LocationPrecision } from './scope.ts'

/** What an operator gives for a consumer; absent lists mean "all". */
export interface ConsumerScopeInput {
  districts?: readonly string[] | undefined
  kinds?: readonly string[] | undefined
  fields?: readonly string[] | undefined
  location?: string | undefined
}

/** The location precision of a consumer added without `--location`: a ~500 m cell, never a street address. */
export const DEFAULT_CONSUMER_LOCATION: LocationPrecision = 'coarse'

export interface ConsumerCredential { name: string; token: string }

/** The token's name part: what precedes its last dot (names may hold dots, the random part never does). */
export function consumerNameOfToken (token: string): string | undefined {
  const dot = token.lastIndexOf('.')
  return dot <= 0 ? undefined : token.slice(0, dot)
}

export async function addConsumer (target: RegistryTarget, name: string, input: ConsumerScopeInput): Promise<ConsumerCredential> {
  const consumerName = parseName(name, 'consumer name')
  const scope = parseScope(input)
  return registryStoreOf(target).update(function addOneConsumer (data) {
    assertNameFree(data, consumerName)
    const token = `${consumerName}.${generateSecret()}`
    data.consumers[consumerName] = { scope, secretHash: hashSecret(token), createdAt: new Date().toISOString() }
    return { name: consumerName, token }
  })
}

export async function removeConsumer (target: RegistryTarget, name: string): Promise<void> {
  await registryStoreOf(target).update(function removeOneConsumer (data) {
    if (!Object.hasOwn(data.consumers, name)) throw new GatewayError('CSG_REGISTRY_NOT_FOUND', `no consumer ${name}`)
    delete data.consumers[name]
  })
}

/** Validates a scope: known districts' syntax, kinds of devices/, fields of the chosen kinds. */
export function parseScope (input: ConsumerScopeInput): ConsumerScope {
  const districts = input.districts?.map(function checkDistrict (d) { return parseName(d, 'district') })
  const kinds = input.kinds?.map(function checkKind (k) {
    if (!isKindName(k)) throw new GatewayError('CSG_REGISTRY_INVALID', `kind ${k} is not one of ${kindNames.join(', ')}`)
    return k
  })
  const known = new Set((kinds ?? kindNames).flatMap(function fieldsOfKind (k) { return getKind(k)?.fieldNames ?? [] }))
  const fields = input.fields?.map(function checkField (f) {
    if (!known.has(f)) throw new GatewayError('CSG_REGISTRY_INVALID', `field ${f} is not a field of ${(kinds ?? kindNames).join(', ')}`)
    return f
  })
  const location = input.location ?? DEFAULT_CONSUMER_LOCATION
  if (!(LOCATION_PRECISIONS as readonly string[]).includes(location)) {
    throw new GatewayError('CSG_REGISTRY_INVALID', `location ${location} is not one of ${LOCATION_PRECISIONS.join(', ')}`)
  }
  return {
    ...(districts === undefined ? {} : { districts: unique(districts) }),
    ...(kinds === undefined ? {} : { kinds: unique(kinds) }),
    ...(fields === undefined ? {} : { fields: unique(fields) }),
    location: location as LocationPrecision,
  }
}

function unique<T> (values: T[]): T[] {
  return [...new Set(values)]
}

function parseName (value: string, what: string): string {
  const parsed = idSchema.safeParse(value)
  if (parsed.success) return parsed.data
  throw new GatewayError('CSG_REGISTRY_INVALID', `${what} ${value} ${parsed.error.issues[0]?.message ?? 'is invalid'}`)
}
