// Which identity each connection authenticated as, and the open connections of each device id or
// crew name: the hooks look a client up on every packet, and a name removed from the registry has
// its connections closed.
import type { Client } from 'aedes'
import type { Identity } from '../authenticate.ts'

export interface ClientTable {
  admit(client: Client, identity: Identity): void
  identityOf(client: Client | null): Identity | undefined
  /** The connection closed. */
  forget(client: Client): void
  connectionsOf(name: string): Iterable<Client>
}

/** A device's id or a crew's name: the key of its rate bucket, log throttle and connections. */
export function nameOf (identity: Identity): string {
  return identity.role === 'device' ? identity.id : identity.name
}

export function createClientTable (): ClientTable {
  const identities = new WeakMap<Client, Identity>()
  const byName = new Map<string, Set<Client>>()
  return {
    admit (client, identity) {
      identities.set(client, identity)
      const name = nameOf(identity)
      let connections = byName.get(name)
      if (connections === undefined) {
        connections = new Set()
        byName.set(name, connections)
      }
      connections.add(client)
    },
    identityOf (client) {
      return client === null ? undefined : identities.get(client)
    },
    forget (client) {
      const identity = identities.get(client)
      if (identity === undefined) return
      const name = nameOf(identity)
      const connections = byName.get(name)
      connections?.delete(client)
      if (connections?.size === 0) byName.delete(name)
    },
    connectionsOf (name) {
      return byName.get(name) ?? []
    },
  }
}
