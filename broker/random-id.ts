// Random ids that people type or paste into `citygw` (session and maintenance window ids). They are
// base64url, which can begin with `-`; the CLI would read such an id as an option, so those draws
// are discarded. That costs under 0.03 bits of the id's entropy.
import { randomBytes } from 'node:crypto'

export function newCliSafeId (bytes: number): string {
  for (;;) {
    const id = randomBytes(bytes).toString('base64url')
    if (!id.startsWith('-')) return id
  }
}
