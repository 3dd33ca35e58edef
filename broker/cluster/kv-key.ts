// KV keys from names the gateway does not control (device ids, node names): a key's tokens are
// split on `.` and may not be empty, and ids may contain dots anywhere. base64url keeps every id
// distinct and valid.

export function kvKeyOf (name: string): string {
  return Buffer.from(name, 'utf8').toString('base64url')
}

export function nameOfKvKey (key: string): string {
  return Buffer.from(key, 'base64url').toString('utf8')
}
