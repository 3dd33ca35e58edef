// `citygw cert`: development certificates through Debian's openssl binary (Node has no X.509
// generator): a self-signed server certificate, a CA (`isCa`), or a certificate signed by a CA
// (`caCert`/`caKey`, e.g. a device's client certificate, CN = device id). Keys are written mode 0600.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import path from 'node:path'
import { promisify } from 'node:util'
import { GatewayError, isGatewayError } from './errors.ts'

const run = promisify(execFile)
const OPENSSL_CANDIDATES = ['/usr/bin/openssl', '/usr/local/bin/openssl', '/bin/openssl']
const CN_PATTERN = /^[A-Za-z0-9._-]{1,64}$/

export interface CertOptions {
  outDir: string
  /** Subject CN (and a subjectAltName): a host name, an IP address or a device id. */
  cn: string
  days: number
  /** Make a CA certificate (for TLS_CA) instead of a leaf. */
  isCa?: boolean
  /** Sign with this CA instead of self-signing. */
  caCert?: string | undefined
  caKey?: string | undefined
  /** File name stem; default `cert`/`key` for leaves, `ca`/`ca-key` for a CA. */
  name?: string | undefined
  overwrite?: boolean
}

export interface CertFiles { cert: string; key: string }

/** Creates the certificate and key; refuses to replace existing files unless `overwrite`. */
export async function createCertificate (options: CertOptions): Promise<CertFiles> {
  if (!CN_PATTERN.test(options.cn)) throw new GatewayError('CSG_CONFIG_INVALID', '--cn must be 1–64 characters of A-Z a-z 0-9 . _ -')
  if (!(Number.isSafeInteger(options.days) && options.days >= 1 && options.days <= 3650)) throw new GatewayError('CSG_CONFIG_INVALID', '--days must be an integer 1–3650')
  if ((options.caCert === undefined) !== (options.caKey === undefined)) throw new GatewayError('CSG_CONFIG_INVALID', '--ca-cert and --ca-key go together')
  const openssl = OPENSSL_CANDIDATES.find(function exists (file) { return existsSync(file) })
  if (openssl === undefined) throw new GatewayError('CSG_CONFIG_INVALID', 'openssl is missing: install it with `apt-get install openssl`')

  const stem = options.name ?? (options.isCa === true ? 'ca' : 'cert')
  const files = { cert: path.resolve(options.outDir, `${stem}.pem`), key: path.resolve(options.outDir, `${stem === 'cert' ? 'key' : `${stem}-key`}.pem`) }
  if (options.overwrite !== true) {
    for (const file of [files.cert, files.key]) {
      if (existsSync(file)) throw new GatewayError('CSG_CONFIG_INVALID', `${file} exists; pass --force to replace it`)
    }
  }
  await mkdir(options.outDir, { recursive: true, mode: 0o700 })
  // openssl writes into a private directory first, so the key is never readable by others.
  const work = await mkdtemp(path.join(path.resolve(options.outDir), '.citygw-cert-'))
  try {
    const key = path.join(work, 'key.pem')
    const cert = path.join(work, 'cert.pem')
    const san = isIP(options.cn) === 0 ? `DNS:${options.cn}` : `IP:${options.cn}`
    const extensions = options.isCa === true
      ? ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign']
      : [`subjectAltName=${san}${options.cn === 'localhost' ? ',IP:127.0.0.1,IP:::1' : ''}`, 'basicConstraints=critical,CA:FALSE', 'extendedKeyUsage=serverAuth,clientAuth']
    const common = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-subj', `/CN=${options.cn}`]
    if (options.caCert === undefined || options.caKey === undefined) {
      await run(openssl, ['req', '-x509', ...common, '-out', cert, '-days', String(options.days), ...extensions.flatMap(function asArg (e) { return ['-addext', e] })])
    } else {
      const csr = path.join(work, 'req.csr')
      const ext = path.join(work, 'ext.cnf')
      await run(openssl, ['req', '-new', ...common, '-out', csr])
      await writeFile(ext, `${extensions.join('\n')}\n`)
      await run(openssl, ['x509', '-req', '-in', csr, '-CA', options.caCert, '-CAkey', options.caKey, '-set_serial', `0x${Date.now().toString(16)}`, '-days', String(options.days), '-extfile', ext, '-out', cert])
    }
    await chmod(key, 0o600)
    await chmod(cert, 0o644)
    await rename(key, files.key)
    await rename(cert, files.cert)
  } catch (err) {
    if (isGatewayError(err)) throw err
    const stderr = (err as { stderr?: string }).stderr
    throw new GatewayError('CSG_CONFIG_INVALID', `openssl failed: ${stderr?.trim() ?? (err as Error).message}`, { cause: err })
  } finally {
    await rm(work, { recursive: true, force: true })
  }
  return files
}
