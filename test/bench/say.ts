// Progress lines and the table go to stderr: stdout carries only the JSON results.
export function say (text: string): void {
  process.stderr.write(`${text}\n`)
}
