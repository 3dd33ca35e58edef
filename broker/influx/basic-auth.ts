// A user name and password in; the value of an HTTP Basic `Authorization` header out (RFC 7617,
// UTF-8, no password counts as empty). Used by the v1 sink and the series reader. Pure; the result
// holds the password, so it belongs in a header, never in a URL or a log.

/** `Basic base64(username:password)`. */
export function basicAuthorization (username: string, password: string | undefined): string {
  return `Basic ${Buffer.from(`${username}:${password ?? ''}`, 'utf8').toString('base64')}`
}
