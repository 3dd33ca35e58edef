// What the provisioning commands share: printing to stdout (the output people and scripts read),
// printing a new credential, and commander value parsers.
import { InvalidArgumentError } from 'commander'
import type { Credential } from '../broker/registry/provision.ts'

export function print (text: string): void {
  process.stdout.write(`${text}\n`)
}

export function printCredential (credential: Credential, asJson: boolean, what: string): void {
  if (asJson) {
    print(JSON.stringify(credential))
    return
  }
  print(`${what} ${credential.id} registered.`)
  print(`secret: ${credential.secret}`)
  print('This secret is shown once and stored only as a hash: keep it now.')
}

export function parseNumber (value: string): number {
  const n = Number(value)
  if (!Number.isFinite(n)) throw new InvalidArgumentError('not a number')
  return n
}

export function collectValues (value: string, previous: string[]): string[] {
  return [...previous, value]
}
