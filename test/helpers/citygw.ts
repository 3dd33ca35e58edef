// Runs the `citygw` command as operators do (a real child process: the compiled build, or with
// `fromSources` bin/citygw.js through tsx) and returns its exit code and output instead of
// throwing, so tests can check refusals and their messages.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { citygwEntry, REPO_ROOT } from './gateway.ts'

const execFileAsync = promisify(execFile)

export interface CitygwResult { code: number, stdout: string, stderr: string }

export async function runCitygw (args: readonly string[], env: Record<string, string | undefined>, timeoutMs = 30_000, options: { fromSources?: boolean } = {}): Promise<CitygwResult> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [citygwEntry(options.fromSources), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number, stdout: string, stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}
