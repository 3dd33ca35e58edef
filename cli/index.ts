// The `citygw` command line (bin/citygw.js runs it from the sources, `npm start` from dist/):
// start the gateway, provision devices and crews, print schemas, simulate devices. Output meant
// for people or scripts goes to stdout; logs (pino JSON) only from `start`. Failures: a message on
// stderr (a gateway error with its code) and exit code 1.
import { isGatewayError } from '../broker/errors.ts'
import { createProgram } from './program.ts'

try {
  await createProgram().parseAsync()
} catch (err) {
  process.stderr.write(`citygw: ${isGatewayError(err) ? `${err.message} (${err.code})` : (err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
}
