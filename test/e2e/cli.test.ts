// The `citygw` command as operators run it (a real child process): provisioning, schema output,
// configuration errors, one gateway per DATA_DIR, clean shutdown on SIGTERM.
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest'
import { REPO_ROOT, spawnGatewayProcess } from '../helpers/gateway.ts'
import { connectDevice } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { runCitygw, type CitygwResult } from '../helpers/citygw.ts'

let dataDir: string
beforeEach(async () => { dataDir = await makeTempDir('citygw-cli-') })
afterEach(async () => { await removeTempDir(dataDir) })

function citygw (args: string[], env: Record<string, string> = {}): Promise<CitygwResult> {
  return runCitygw(args, { DATA_DIR: dataDir, ...env })
}

describe('citygw device / crew', () => {
  it('adds, lists and removes devices; the secret is printed once and never stored', async () => {
    const added = await citygw(['device', 'add', 'lp-9', '--kind', 'lamp-post', '--district', 'north', '--lat', '52.37', '--lon', '4.89', '--json'])
    expect(added.code).toBe(0)
    const { id, secret } = JSON.parse(added.stdout) as { id: string; secret: string }
    expect(id).toBe('lp-9')
    expect(secret.length).toBeGreaterThanOrEqual(22)
    expect(await readFile(join(dataDir, 'registry.json'), 'utf8')).not.toContain(secret)

    const human = await citygw(['device', 'add', 'mh-9', '--kind', 'manhole', '--district', 'north'])
    expect(human.stdout).toMatch(/secret: \S+/)

    const listed = await citygw(['device', 'list', '--json'])
    const devices = listed.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(devices).toEqual([
      expect.objectContaining({ id: 'lp-9', kind: 'lamp-post', district: 'north', lat: 52.37, lon: 4.89 }),
      expect.objectContaining({ id: 'mh-9', kind: 'manhole', district: 'north' }),
    ])
    expect(listed.stdout).not.toContain('secretHash')

    expect((await citygw(['device', 'remove', 'lp-9'])).code).toBe(0)
    expect((await citygw(['device', 'list', '--json'])).stdout).not.toContain('lp-9')
    const missing = await citygw(['device', 'remove', 'lp-9'])
    expect(missing.code).not.toBe(0)
    expect(missing.stderr).toMatch(/CSG_REGISTRY_NOT_FOUND/)

    // Ids may begin with `-`: after `--` they are not read as options.
    expect((await citygw(['device', 'add', '--kind', 'lamp-post', '--district', 'n', '--', '-lp-7'])).code).toBe(0)
    expect((await citygw(['device', 'list', '--json'])).stdout).toContain('"-lp-7"')
    expect((await citygw(['device', 'remove', '--', '-lp-7'])).code).toBe(0)
    expect((await citygw(['device', 'list', '--json'])).stdout).not.toContain('-lp-7')
  })

  it('refuses bad input with a message', async () => {
    const badKind = await citygw(['device', 'add', 'x1', '--kind', 'toaster', '--district', 'n'])
    expect(badKind.code).not.toBe(0)
    expect(badKind.stderr).toMatch(/toaster/)
    const badId = await citygw(['device', 'add', 'bad/id', '--kind', 'manhole', '--district', 'n'])
    expect(badId.code).not.toBe(0)
    expect(badId.stderr).toMatch(/id/)
  })

  it('imports CSV and writes the secrets to a 0600 file', async () => {
    const csv = join(dataDir, 'fleet.csv')
    const out = join(dataDir, 'secrets.jsonl')
    await writeFile(csv, 'id,kind,district,lat,lon\nwp-1,water-pipe,harbour,51.9,4.4\nwp-2,water-pipe,harbour,,\n')
    const imported = await citygw(['device', 'import', csv, '--out', out])
    expect(imported.code).toBe(0)
    expect((await stat(out)).mode & 0o777).toBe(0o600)
    const lines = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { id: string; secret: string })
    expect(lines.map((l) => l.id)).toEqual(['wp-1', 'wp-2'])

    await writeFile(csv, 'id,kind,district,lat,lon\nwp-3,water-pipe,harbour,,\nwp-4,pipe,harbour,,\n')
    const refused = await citygw(['device', 'import', csv])
    expect(refused.code).not.toBe(0)
    expect(refused.stderr).toMatch(/line 3/)
  })

  it('adds a crew with districts', async () => {
    const added = await citygw(['crew', 'add', 'crew-a', '--districts', 'north,south', '--json'])
    expect(added.code).toBe(0)
    expect(JSON.parse(added.stdout)).toMatchObject({ id: 'crew-a' })
    const registry = JSON.parse(await readFile(join(dataDir, 'registry.json'), 'utf8')) as { crews: Record<string, { districts: string[] }> }
    expect(registry.crews['crew-a']?.districts).toEqual(['north', 'south'])
  })
})

describe('citygw schema', () => {
  it.each(['lamp-post', 'water-pipe', 'manhole'])('prints the JSON Schema of %s', async (kind) => {
    const result = await citygw(['schema', kind])
    expect(result.code).toBe(0)
    const schema = JSON.parse(result.stdout) as { $schema: string; properties: Record<string, unknown> }
    expect(schema.$schema).toMatch(/2020-12/)
    expect(Object.keys(schema.properties)).toContain('ts')
  })
})

describe('citygw start', () => {
  it('refuses a bad configuration, naming the variable', async () => {
    const result = await citygw(['start'], { MQTT_PORT: 'eighteen', INFLUX_API: 'v3' })
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/MQTT_PORT/)
    expect(result.stderr).toMatch(/INFLUX_API/)
  })

  it('refuses a second gateway on the same DATA_DIR, and shuts down cleanly on SIGTERM', async () => {
    const first = await spawnGatewayProcess({ DATA_DIR: dataDir })
    onTestFinished(() => { first.child.kill('SIGKILL') })
    const second = await citygw(['start'], { MQTT_HOST: '127.0.0.1', MQTT_PORT: '0', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0' })
    expect(second.code).not.toBe(0)
    expect(second.stderr).toMatch(/CSG_DATA_DIR_LOCKED/)

    const added = await citygw(['device', 'add', 'late-1', '--kind', 'manhole', '--district', 'n', '--json'])
    const { secret } = JSON.parse(added.stdout) as { secret: string }
    const client = await connectDevice(first.mqttUrl, 'late-1', secret).catch(async () => {
      await new Promise((resolve) => setTimeout(resolve, 500)) // the registry is polled every 100 ms here
      return connectDevice(first.mqttUrl, 'late-1', secret)
    })
    await client.publishAsync('devices/late-1/telemetry', '{"coverAngle": 3}', { qos: 1 })
    await client.endAsync()

    first.child.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    expect(first.output().some((l) => l.includes('"gateway stopped"'))).toBe(true)
  })

  it('runs from the sources too (bin/citygw.js, as `npx citygw` does, through tsx): a command, a start and a clean stop', async () => {
    const schema = await runCitygw(['schema', 'manhole'], { DATA_DIR: dataDir }, 30_000, { fromSources: true })
    expect(schema.code).toBe(0)
    expect(Object.keys((JSON.parse(schema.stdout) as { properties: Record<string, unknown> }).properties)).toContain('coverAngle')

    const gw = await spawnGatewayProcess({ DATA_DIR: dataDir }, { fromSources: true })
    onTestFinished(() => { gw.child.kill('SIGKILL') })
    const cmdline = (await readFile(`/proc/${String(gw.child.pid)}/cmdline`, 'utf8')).split('\0')
    expect(cmdline).toContain(join(REPO_ROOT, 'bin/citygw.js'))
    gw.child.kill('SIGTERM')
    expect(await gw.exited).toBe(0)
    expect(gw.output().some((l) => l.includes('"gateway stopped"'))).toBe(true)
  })

  it('npm start passes SIGTERM on to the gateway, which stops cleanly (no orphan left running)', async () => {
    const gw = await spawnGatewayProcess({ DATA_DIR: dataDir }, { viaNpm: true })
    onTestFinished(() => {
      try {
        process.kill(-(gw.child.pid ?? 0), 'SIGKILL') // the whole group: npm and whatever it started
      } catch { /* already gone */ }
    })
    gw.child.kill('SIGTERM') // to npm, as a process manager would
    expect(await gw.exited).toBe(0)
    expect(gw.output().some((l) => l.includes('"gateway stopped"'))).toBe(true)
  })

  it('npm start runs the compiled build (dist/), console included, and stops cleanly', async () => {
    const gw = await spawnGatewayProcess({ DATA_DIR: dataDir }, { asNpmStart: true })
    onTestFinished(() => { gw.child.kill('SIGKILL') })
    // scripts/start.sh execs node: the pid is the gateway's own.
    const cmdline = (await readFile(`/proc/${String(gw.child.pid)}/cmdline`, 'utf8')).split('\0')
    expect(cmdline).toContain('dist/cli/index.js')
    const page = await fetch(`${gw.httpUrl}/`)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/text\/html/)

    const added = await citygw(['device', 'add', 'built-1', '--kind', 'lamp-post', '--district', 'n', '--json'])
    const { secret } = JSON.parse(added.stdout) as { secret: string }
    const client = await connectDevice(gw.mqttUrl, 'built-1', secret).catch(async () => {
      await new Promise((resolve) => setTimeout(resolve, 500)) // the registry is polled every 100 ms here
      return connectDevice(gw.mqttUrl, 'built-1', secret)
    })
    const errors = await client.subscribeAsync('devices/built-1/errors', { qos: 1 })
    expect(errors[0]?.qos).toBe(1)
    const notice = new Promise<string>((resolve) => { client.once('message', (_topic, payload) => { resolve(payload.toString()) }) })
    await client.publishAsync('devices/built-1/telemetry', '{"commandedLevel": 500}', { qos: 1 })
    expect(JSON.parse(await notice)).toMatchObject({ status: 'rejected', rejected: 1 })
    await client.endAsync()

    gw.child.kill('SIGTERM')
    expect(await gw.exited).toBe(0)
  })
})
