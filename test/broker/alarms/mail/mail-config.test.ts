import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../../../broker/config.ts'

describe('mail settings', () => {
  it('accepts an smtp(s) URL with credentials and a From with or without a name', () => {
    const config = loadConfig({ SMTP_URL: 'smtps://user:p%40ss@mail.city.example:465', SMTP_FROM: 'City sensors <alarms@city.example>', CONSOLE_URL: 'https://console.city.example/' })
    expect(config.SMTP_URL).toBe('smtps://user:p%40ss@mail.city.example:465')
    expect(config.SMTP_TIMEOUT_MS).toBe(20_000)
    expect(config.SMTP_RETRY_MAX_MS).toBe(60_000)
    expect(loadConfig({ SMTP_URL: 'smtp://127.0.0.1:25', SMTP_FROM: 'alarms@city.example' }).SMTP_FROM).toBe('alarms@city.example')
  })

  it.each([
    [{ SMTP_URL: 'http://mail.city.example', SMTP_FROM: 'a@city.example' }, /SMTP_URL: must be an smtp:\/\/ or smtps:\/\/ URL/],
    [{ SMTP_URL: 'smtp://mail.city.example', SMTP_FROM: 'alarms' }, /SMTP_FROM: must be an e-mail address/],
    [{ SMTP_URL: 'smtp://mail.city.example' }, /SMTP_URL: needs SMTP_FROM/],
    [{ SMTP_FROM: 'a@city.example' }, /SMTP_FROM: needs SMTP_URL/],
    [{ CONSOLE_URL: 'ftp://x' }, /CONSOLE_URL: must be an http\(s\) URL/],
  ])('refuses %j naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message)
  })

  it('does not repeat the URL (and its password) in its refusal', () => {
    expect(() => loadConfig({ SMTP_URL: 'smtpx://user:hunter2-secret@mail', SMTP_FROM: 'a@city.example' })).toThrow(/^(?!.*hunter2-secret)/s)
  })
})
