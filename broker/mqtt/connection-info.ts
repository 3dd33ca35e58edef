// What the listener knows about a connection (peer address, transport, verified client-certificate
// CN), attached to the stream it hands to Aedes so the hooks can read it from `client.conn`.

export interface ConnectionInfo {
  readonly remoteAddress: string
  readonly transport: 'tcp' | 'tls' | 'ws'
  /** CN of a client certificate the TLS listener verified against TLS_CA; undefined otherwise. */
  readonly clientCertCn: string | undefined
  /** performance.now() when the listener accepted the socket (before any TLS handshake or upgrade). */
  readonly acceptedAtMs?: number | undefined
}

const infos = new WeakMap<object, ConnectionInfo>()

export function attachConnectionInfo (stream: object, info: ConnectionInfo): void {
  infos.set(stream, info)
}

/** The info of a connection; `unknown` address when the stream did not come through a listener (tests). */
export function connectionInfoOf (stream: object): ConnectionInfo {
  return infos.get(stream) ?? { remoteAddress: 'unknown', transport: 'tcp', clientCertCn: undefined }
}
