import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../../broker/errors.ts'
import { REPO_ROOT } from '../helpers/gateway.ts'

describe('error codes', () => {
  it('the README lists exactly the codes of broker/errors.ts', async () => {
    const readme = await readFile(`${REPO_ROOT}/README.md`, 'utf8')
    const listed = new Set([...readme.matchAll(/`(CSG_[A-Z_]+)`/g)].map((m) => m[1]))
    expect([...listed].sort()).toEqual(Object.keys(ERROR_CODES).sort())
  })
})
