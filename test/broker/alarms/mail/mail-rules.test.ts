import { describe, expect, it } from 'vitest'
import { parseRulesFile } from '../../../../broker/alarms/rules-config.ts'
import { mailRecipients } from '../../../../broker/alarms/mail/mail-rules.ts'

describe('mail key of the rules file', () => {
  it.each([
    ['mail:\n  districts:\n    north:\n      critical: [crew-at-north]\n', /rules\.yaml: mail\.districts\.north\.critical\.0: must be an e-mail address/],
    ['mail:\n  default:\n    urgent: [a@city.example]\n', /mail\.default: .*urgent/],
    ['mail:\n  districts:\n    "no way":\n      critical: [a@city.example]\n', /mail\.districts\.no way: must be a district name/],
    ['mail:\n  default:\n    critical: a@city.example\n', /mail\.default\.critical/],
    ['mail:\n  recipients: {}\n', /mail: .*recipients/],
  ])('refuses %j naming the place', (text, message) => {
    expect(() => parseRulesFile(text, 'rules.yaml')).toThrow(message)
  })

  it('takes a district\'s list for a severity it names, else the default\'s; an empty list mails no one', () => {
    const rules = parseRulesFile([
      'mail:',
      '  default: { critical: [duty@city.example], major: [duty@city.example] }',
      '  districts:',
      '    north: { critical: [north@city.example], major: [] }',
    ].join('\n'), 'rules.yaml').mail
    expect(mailRecipients(rules, 'north', 'critical')).toEqual(['north@city.example'])
    expect(mailRecipients(rules, 'north', 'major')).toEqual([])
    expect(mailRecipients(rules, 'south', 'major')).toEqual(['duty@city.example'])
    expect(mailRecipients(rules, 'south', 'minor')).toEqual([])
    // A district named like an Object.prototype member is just a district without its own lists.
    expect(mailRecipients(rules, 'constructor', 'critical')).toEqual(['duty@city.example'])
    expect(mailRecipients(undefined, 'north', 'critical')).toEqual([])
  })
})
