// Sends one composed mail through SMTP (nodemailer, SMTP_URL) and says whether a failure is worth
// retrying. The URL's credentials never reach a log: errors are reduced to code, reply code and a
// message with the user name and password cut out.
import nodemailer, { type NodemailerError } from 'nodemailer'

export interface SmtpSenderOptions {
  /** smtp:// or smtps://, credentials allowed. */
  url: string
  /** The From header: an address, or `Name <address>`. */
  from: string
  /** Connecting, the greeting and any silence of the server, ms. */
  timeoutMs: number
}

export interface OutgoingMail {
  to: readonly string[]
  subject: string
  text: string
}

export type SendOutcome =
  | { ok: true; rejected: number }
  /** `permanent`: the server refused this mail for good (retrying gets the same answer). */
  | { ok: false; permanent: boolean; error: SmtpErrorSummary }

/** What the logs may say about a failed send. */
export interface SmtpErrorSummary { code?: string | undefined; responseCode?: number | undefined; message: string }

export interface SmtpSender {
  send(mail: OutgoingMail): Promise<SendOutcome>
  close(): void
}

export function createSmtpSender (options: SmtpSenderOptions): SmtpSender {
  const secrets = credentialsOf(options.url)
  const transport = nodemailer.createTransport({
    url: options.url,
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: options.timeoutMs,
    dnsTimeout: options.timeoutMs,
    // Bodies are plain text composed here: nothing may make the transport read files or fetch URLs.
    disableFileAccess: true,
    disableUrlAccess: true,
    logger: false,
  })

  function summarise (err: unknown): SmtpErrorSummary {
    const e = err as NodemailerError
    let message = typeof e.message === 'string' ? e.message : String(err)
    for (const secret of secrets) message = message.replaceAll(secret, '[redacted]')
    return { code: e.code, responseCode: e.responseCode, message: message.slice(0, 500) }
  }

  return {
    async send (mail) {
      try {
        const info = await transport.sendMail({ from: options.from, to: [...mail.to], subject: mail.subject, text: mail.text })
        return { ok: true, rejected: info.rejected.length }
      } catch (err) {
        // Wrong credentials are the operator's to fix: the mail waits for the fix rather than being lost.
        const isPermanent = (err as NodemailerError).permanent === true && (err as NodemailerError).code !== 'EAUTH'
        return { ok: false, permanent: isPermanent, error: summarise(err) }
      }
    },
    close () { transport.close() },
  }
}

/** The URL's user name and password, as written and decoded, to cut out of error messages. */
function credentialsOf (url: string): string[] {
  const parsed = new URL(url)
  const parts = [parsed.username, parsed.password].filter(function isSet (p) { return p.length > 0 })
  return [...new Set([...parts, ...parts.map(safeDecode)])].filter(function isSet (p) { return p.length > 0 }).sort(function longestFirst (a, b) { return b.length - a.length })
}

function safeDecode (text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}
