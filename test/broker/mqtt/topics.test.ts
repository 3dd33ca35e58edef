import { describe, expect, it } from 'vitest'
import { deviceTopics, formatAlarmTopic, isCrewSubscriptionAllowed, isOwnSubscription, parseAckTopic, topicLimitExceeded } from '../../../broker/mqtt/topics.ts'

describe('device topics', () => {
  const topics = deviceTopics('lp-1')
  it('names the contract topics', () => {
    expect(topics).toEqual({ telemetry: 'devices/lp-1/telemetry', status: 'devices/lp-1/status', errors: 'devices/lp-1/errors', commandsPrefix: 'devices/lp-1/commands/' })
  })
  it.each([
    ['devices/lp-1/errors', true],
    ['devices/lp-1/commands/#', true],
    ['devices/lp-1/commands/dim', true],
    ['devices/lp-1/commands/+', true],
    ['devices/lp-1/telemetry', false],
    ['devices/lp-2/errors', false],
    ['devices/+/errors', false],
    ['devices/#', false],
    ['#', false],
    ['alarms/#', false],
    ['devices/lp-1/commands/', false],
  ])('subscription %s allowed: %s', (filter, allowed) => {
    expect(isOwnSubscription(topics, filter)).toBe(allowed)
  })
})

describe('crew topics', () => {
  it.each([
    [undefined, 'alarms/#', true],
    [undefined, 'alarms/north/#', true],
    [undefined, 'devices/x/telemetry', false],
    [undefined, '#', false],
    [['north'], 'alarms/north/#', true],
    [['north'], 'alarms/north/manhole/+/coverOpen', true],
    [['north'], 'alarms/south/#', false],
    [['north'], 'alarms/#', false],
    [['north'], 'alarms/+/#', false],
  ])('crew %j subscribing %s: %s', (districts, filter, allowed) => {
    expect(isCrewSubscriptionAllowed(districts, filter)).toBe(allowed)
  })

  it('formats and parses alarm topics', () => {
    const alarm = { district: 'north', kind: 'manhole', deviceId: 'mh-1', type: 'coverOpen' }
    expect(formatAlarmTopic(alarm)).toBe('alarms/north/manhole/mh-1/coverOpen')
    expect(parseAckTopic('alarms/north/manhole/mh-1/coverOpen/ack')).toEqual(alarm)
    expect(parseAckTopic('alarms/north/manhole/mh-1/coverOpen')).toBeUndefined()
    expect(parseAckTopic('alarms//manhole/mh-1/coverOpen/ack')).toBeUndefined()
  })
})

describe('topic limits', () => {
  it('measures length in UTF-8 bytes and depth in levels', () => {
    expect(topicLimitExceeded('devices/a/telemetry', 256, 8)).toBeUndefined()
    expect(topicLimitExceeded('x'.repeat(257), 256, 8)).toBe('topic_length')
    expect(topicLimitExceeded('é'.repeat(129), 256, 8)).toBe('topic_length')
    expect(topicLimitExceeded('é'.repeat(128), 256, 8)).toBeUndefined()
    expect(topicLimitExceeded('a/b/c/d/e/f/g/h', 256, 8)).toBeUndefined()
    expect(topicLimitExceeded('a/b/c/d/e/f/g/h/i', 256, 8)).toBe('topic_depth')
    expect(topicLimitExceeded('////////', 256, 8)).toBe('topic_depth')
  })
})
