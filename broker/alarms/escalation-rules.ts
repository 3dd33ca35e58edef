// What the rules file says about escalation, and the arithmetic of deadlines. Pure: the rules
// file's keys (validated with the rest of it in rules-config.ts), defaults, and which deadline and
// recipients apply to a device — the timer that acts on them is escalation.ts.
import { z } from 'zod'
import type { Severity } from '../../devices/define-rule.ts'
import { idSchema } from '../registry/schema.ts'

/** Seconds an alarm may stay active unacknowledged, per severity; warnings have no deadline. */
export const DEFAULT_ACK_DEADLINE_SEC: Readonly<Record<Severity, number | undefined>> = Object.freeze({
  critical: 300,
  major: 1800,
  minor: 14_400,
  warning: undefined,
})

/** The longest deadline the rules file may set: 7 days. */
const MAX_ACK_DEADLINE_SEC = 7 * 86_400

// 0 switches a severity's deadline off; any other value is a deadline in seconds.
const deadlineSecSchema = z.number().min(0).max(MAX_ACK_DEADLINE_SEC)

/** Rules file scope key `ackDeadlineSec`: per severity, seconds (0 = no deadline). */
export const ackDeadlineSecSchema = z.strictObject({
  critical: deadlineSecSchema.optional(),
  major: deadlineSecSchema.optional(),
  minor: deadlineSecSchema.optional(),
  warning: deadlineSecSchema.optional(),
})
export type AckDeadlineSec = z.infer<typeof ackDeadlineSecSchema>

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}$/

/** One escalation recipient: a crew's name, or an e-mail address (for the mail channel). */
const recipientSchema = z.string().max(320).refine(function isCrewOrMail (value) {
  return idSchema.safeParse(value).success || EMAIL.test(value)
}, 'must be a crew name (1–64 characters of A-Z a-z 0-9 - _ .) or an e-mail address')

/** Rules file scope key `escalateTo`: who else hears of an alarm nobody acknowledged in time. */
export const escalateToSchema = z.array(recipientSchema).max(20)

/** The scopes' escalation keys, as far as deadlines and recipients go. */
export interface EscalationScope {
  ackDeadlineSec?: AckDeadlineSec | undefined
  escalateTo?: readonly string[] | undefined
}

export interface EscalationRecipients {
  /** Crews: each gets the alarm on `escalations/{crew}/{district}/{kind}/{deviceId}/{type}`. */
  crews: readonly string[]
  /** E-mail addresses, for the mail channel (Alarms.onEscalation). */
  emails: readonly string[]
}

export const NO_RECIPIENTS: EscalationRecipients = Object.freeze({ crews: [], emails: [] })

/**
 * The deadline in force for a severity, ms: the default overridden by each scope in turn (kind,
 * district, device; later wins). Undefined = no deadline.
 */
export function ackDeadlineMs (scopes: readonly EscalationScope[], severity: Severity): number | undefined {
  let seconds = DEFAULT_ACK_DEADLINE_SEC[severity]
  for (const scope of scopes) {
    const set = scope.ackDeadlineSec?.[severity]
    if (set !== undefined) seconds = set === 0 ? undefined : set
  }
  return seconds === undefined ? undefined : seconds * 1000
}

/** The recipients in force: the most specific scope that names any (a later scope replaces the list). */
export function escalationRecipients (scopes: readonly EscalationScope[]): EscalationRecipients {
  let named: readonly string[] | undefined
  for (const scope of scopes) named = scope.escalateTo ?? named
  if (named === undefined || named.length === 0) return NO_RECIPIENTS
  const crews: string[] = []
  const emails: string[] = []
  for (const recipient of named) (recipient.includes('@') ? emails : crews).push(recipient)
  return { crews, emails }
}

/**
 * When an overdue alarm is due next: one deadline period from now. Counting from the missed
 * deadline instead would, after a gateway was down for hours, send every missed step at once.
 */
export function nextDueMs (periodMs: number, nowMs: number): number {
  return nowMs + periodMs
}

/** An active alarm's deadline, ms since epoch; undefined when none is running. */
export function dueMsOf (alarm: { state: string; ackDueAt?: string | undefined }): number | undefined {
  if (alarm.state !== 'active' || alarm.ackDueAt === undefined) return undefined
  const ms = Date.parse(alarm.ackDueAt)
  return Number.isFinite(ms) ? ms : undefined
}
