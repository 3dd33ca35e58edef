// The `mail` key of the rules file: who gets an e-mail, per district and severity. A district's
// list for a severity replaces the default list for that severity (an empty list sends none).
import { z } from 'zod'
import type { AlarmRecord } from '../alarm.ts'

const DISTRICT_NAME = /^[A-Za-z0-9._-]{1,64}$/
const address = z.email({ message: 'must be an e-mail address' }).max(254)
const addressList = z.array(address).max(50)

/** Recipients by severity; a severity left out has none (or the default's, in a district). */
const bySeveritySchema = z.strictObject({
  critical: addressList.optional(),
  major: addressList.optional(),
  minor: addressList.optional(),
  warning: addressList.optional(),
})

export const mailRulesSchema = z.strictObject({
  /** For every district, unless the district names the severity itself. */
  default: bySeveritySchema.optional(),
  districts: z.record(z.string(), bySeveritySchema).superRefine(function checkDistrictNames (districts, ctx) {
    for (const name of Object.keys(districts)) {
      if (!DISTRICT_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'must be a district name (1–64 characters of A-Z a-z 0-9 - _ .)' })
    }
  }).optional(),
})
export type MailRules = z.infer<typeof mailRulesSchema>

/** The addresses to mail about an alarm of `severity` in `district` (none without rules). */
export function mailRecipients (rules: MailRules | undefined, district: string, severity: AlarmRecord['severity']): readonly string[] {
  if (rules === undefined) return []
  // Own keys only: a district named like an Object.prototype member must not find it.
  const own = rules.districts !== undefined && Object.hasOwn(rules.districts, district) ? rules.districts[district] : undefined
  return own?.[severity] ?? rules.default?.[severity] ?? []
}
