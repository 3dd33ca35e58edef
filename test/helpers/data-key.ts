// A data key file for tests that run several gateway nodes: cluster mode needs DATA_KEY_FILE, the
// same file for every node and for the CLI.
import { join } from 'node:path'
import { createKeyFile, newKeyFile } from '../../broker/crypto/key-file.ts'

/** Writes `<dir>/data.key` (mode 0600) with one new key and returns its path. */
export async function createTestKeyFile (dir: string): Promise<string> {
  const file = join(dir, 'data.key')
  await createKeyFile(file, newKeyFile())
  return file
}
