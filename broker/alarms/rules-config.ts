// The rules in force for each device: the kind's default rules (devices/) with overrides from an
// optional rules file (YAML or JSON) per kind, district and device — later scopes win. Validated by
// zod; an error names the scope, rule and parameter. The file is re-read when it changes.
import { readFile } from 'node:fs/promises'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { getKind, kindNames } from '../../devices/index.ts'
import { DEVICE_OFFLINE, type CompiledRule, type RuleDefinition, type Severity } from '../../devices/define-rule.ts'
import { GatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { watchFileChanges } from '../watched-file.ts'
import type { AlarmDevice } from './alarm.ts'
import { mailRulesSchema, type MailRules } from './mail/mail-rules.ts'
import type { RuleSource } from './engine.ts'
import { flappingRulesOf, flappingRulesSchema, type FlappingRules } from './flapping.ts'
import { incidentRulesOf, incidentRulesSchema, type IncidentRules } from './incident-rules.ts'
import { ackDeadlineMs, ackDeadlineSecSchema, escalateToSchema, escalationRecipients, type EscalationRecipients } from './escalation-rules.ts'

// Values are checked against each rule's params below, for messages that name the rule and parameter.
const ruleOverrideSchema = z.record(z.string(), z.unknown())
const scopeSchema = z.strictObject({
  /** By rule type: `enabled: false` switches it off; other keys override its numeric params. */
  rules: z.record(z.string(), ruleOverrideSchema).optional(),
  offline: z.strictObject({
    enabled: z.boolean().optional(),
    expectedIntervalSec: z.number().positive().optional(),
    missedIntervals: z.number().positive().optional(),
  }).optional(),
  /** Per severity, seconds an alarm may stay active unacknowledged before it is escalated (0 = never). */
  ackDeadlineSec: ackDeadlineSecSchema.optional(),
  /** Crews and e-mail addresses an overdue alarm is escalated to. */
  escalateTo: escalateToSchema.optional(),
})
type Scope = z.infer<typeof scopeSchema>

export const rulesFileSchema = z.strictObject({
  kinds: z.partialRecord(z.enum(kindNames), scopeSchema).optional(),
  districts: z.record(z.string(), scopeSchema).optional(),
  devices: z.record(z.string(), scopeSchema).optional(),
  /** E-mail recipients per district and severity (broker/alarms/mail). */
  mail: mailRulesSchema.optional(),
  /** When alarms of one device group become one incident (incident-rules.ts). */
  incidents: incidentRulesSchema.optional(),
  /** When an alarm raised and cleared too often is kept open (flapping.ts). */
  flapping: flappingRulesSchema.optional(),
})
export type RulesFile = z.infer<typeof rulesFileSchema>

/** Every default rule of every kind by type (a type means the same thing across kinds). */
function defaultRulesByType (): Map<string, RuleDefinition> {
  const byType = new Map<string, RuleDefinition>()
  for (const name of kindNames) {
    for (const rule of getKind(name)?.rules ?? []) byType.set(rule.type, rule)
  }
  return byType
}

/** Parses and checks a rules file's text; throws CSG_RULES_INVALID naming the offending path. */
export function parseRulesFile (text: string, file: string): RulesFile {
  let data: unknown
  try {
    data = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text)
  } catch (err) {
    throw new GatewayError('CSG_RULES_INVALID', `${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`)
  }
  const parsed = rulesFileSchema.safeParse(data ?? {})
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new GatewayError('CSG_RULES_INVALID', `${file}: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`)
  }
  const known = defaultRulesByType()
  const scopes: [string, Scope, readonly RuleDefinition[] | undefined][] = []
  for (const [kind, scope] of Object.entries(parsed.data.kinds ?? {})) scopes.push([`kinds.${kind}`, scope, getKind(kind)?.rules])
  for (const [district, scope] of Object.entries(parsed.data.districts ?? {})) scopes.push([`districts.${district}`, scope, undefined])
  for (const [device, scope] of Object.entries(parsed.data.devices ?? {})) scopes.push([`devices.${device}`, scope, undefined])
  for (const [where, scope, kindRules] of scopes) {
    for (const [type, override] of Object.entries(scope.rules ?? {})) {
      const rule = kindRules === undefined ? known.get(type) : kindRules.find(function sameType (r) { return r.type === type })
      if (rule === undefined) throw new GatewayError('CSG_RULES_INVALID', `${file}: ${where}.rules.${type}: no such rule`)
      for (const [param, value] of Object.entries(override)) {
        const path = `${file}: ${where}.rules.${type}.${param}`
        if (param === 'enabled') {
          if (typeof value !== 'boolean') throw new GatewayError('CSG_RULES_INVALID', `${path}: must be true or false`)
          continue
        }
        if (!Object.hasOwn(rule.params, param)) {
          throw new GatewayError('CSG_RULES_INVALID', `${path}: unknown parameter (known: ${Object.keys(rule.params).join(', ') || 'none'}, enabled)`)
        }
        if (typeof value !== 'number' || !Number.isFinite(value)) throw new GatewayError('CSG_RULES_INVALID', `${path}: must be a number`)
      }
    }
  }
  return parsed.data
}

export interface RuleBook extends RuleSource {
  ackDeadlineMs(device: AlarmDevice, severity: Severity): number | undefined
  /** Who an overdue alarm of this device is escalated to. */
  escalationRecipients(device: AlarmDevice): EscalationRecipients
  /** Called after the file changed and was accepted. */
  onChange(listener: () => void): void
  reload(): Promise<void>
  /** The `mail` key in force (recipients of alarm e-mail). */
  mail(): MailRules | undefined
  /** The `incidents` key in force, with its defaults. */
  incidents(): IncidentRules
  /** The `flapping` key in force, with its defaults. */
  flapping(): FlappingRules
  close(): void
}

export interface RuleBookOptions { file: string | undefined; pollMs: number; log: Logger }

/** Loads the rules file (if any) and keeps it current; a bad file at start-up throws, later it is logged and ignored. */
export async function openRuleBook (options: RuleBookOptions): Promise<RuleBook> {
  const log = options.log.child({ module: 'alarm-rules' })
  let overrides: RulesFile = {}
  // By device id; kind and district are checked, as the registry may move a device (hot path: no key building).
  let compiled = new Map<string, { kind: string; district: string; rules: readonly CompiledRule[] }>()
  // Compiled rules shared by every device with the same overrides in force: most devices use their
  // kind's rules as they are, and one set of rule closures per device would cost kilobytes each.
  let compiledByScope = new Map<string, readonly CompiledRule[]>()
  const listeners: (() => void)[] = []

  async function load (): Promise<void> {
    if (options.file === undefined) return
    const text = await readFile(options.file, 'utf8').catch(function missing (err: NodeJS.ErrnoException) {
      if (err.code === 'ENOENT') return ''
      throw err
    })
    overrides = parseRulesFile(text, options.file)
    compiled = new Map()
    compiledByScope = new Map()
  }

  function scopesFor (device: AlarmDevice): Scope[] {
    return [overrides.kinds?.[device.kind as (typeof kindNames)[number]], overrides.districts?.[device.district], overrides.devices?.[device.id]]
      .filter(function isSet (scope): scope is Scope { return scope !== undefined })
  }

  function build (device: AlarmDevice): readonly CompiledRule[] {
    const scopes = scopesFor(device)
    const rules: CompiledRule[] = []
    for (const definition of getKind(device.kind)?.rules ?? []) {
      let enabled = true
      const params: Record<string, number> = { ...definition.params }
      for (const scope of scopes) {
        for (const [param, value] of Object.entries(scope.rules?.[definition.type] ?? {})) {
          if (param === 'enabled') enabled = value === true
          else if (typeof value === 'number') params[param] = value
        }
      }
      if (enabled) rules.push(definition.build(params))
    }
    return rules
  }

  await load()
  if (options.file !== undefined) log.info({ file: options.file }, 'alarm rules loaded')

  async function reload (): Promise<void> {
    try {
      await load()
      log.info({ file: options.file }, 'alarm rules reloaded')
      for (const listener of listeners) listener()
    } catch (err) {
      log.error({ err, file: options.file }, 'alarm rules file refused; keeping the rules in force')
    }
  }

  const watched = options.file === undefined ? undefined : watchFileChanges(options.file, options.pollMs, function rulesChanged () { void reload() })

  return {
    rulesFor (device) {
      let entry = compiled.get(device.id)
      if (entry === undefined || entry.kind !== device.kind || entry.district !== device.district) {
        const scopeKey = [
          device.kind,
          overrides.districts?.[device.district] === undefined ? '' : device.district,
          overrides.devices?.[device.id] === undefined ? '' : device.id,
        ].join('\n')
        let rules = compiledByScope.get(scopeKey)
        if (rules === undefined) {
          rules = build(device)
          compiledByScope.set(scopeKey, rules)
        }
        entry = { kind: device.kind, district: device.district, rules }
        compiled.set(device.id, entry)
      }
      return entry.rules
    },
    offlineAfterMs (device) {
      let enabled = true
      let intervalSec = getKind(device.kind)?.expectedIntervalSec
      let missed: number = DEVICE_OFFLINE.params.missedIntervals
      for (const scope of scopesFor(device)) {
        if (scope.offline?.enabled !== undefined) enabled = scope.offline.enabled
        intervalSec = scope.offline?.expectedIntervalSec ?? intervalSec
        missed = scope.offline?.missedIntervals ?? missed
      }
      return enabled && intervalSec !== undefined ? intervalSec * missed * 1000 : undefined
    },
    ackDeadlineMs (device, severity) { return ackDeadlineMs(scopesFor(device), severity) },
    escalationRecipients (device) { return escalationRecipients(scopesFor(device)) },
    onChange (listener) { listeners.push(listener) },
    reload,
    mail () { return overrides.mail },
    incidents () { return incidentRulesOf(overrides.incidents) },
    flapping () { return flappingRulesOf(overrides.flapping) },
    close () { watched?.close() },
  }
}
