import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TOPIC_POLICY,
  deletesTopic,
  grantedPatterns,
  parseTopicAllowList,
  retainedReason,
  topicAllowed,
  topicNotAllowedMessage,
} from './topic-policy.ts';

describe('topic name policy', () => {
  it('allows by default only topics prefixed with the own namespace and a dot', () => {
    const p = DEFAULT_TOPIC_POLICY;
    expect(topicAllowed(p, 'team-a', 'team-a.requests')).toBe(true);
    expect(topicAllowed(p, 'team-a', 'team-b.requests')).toBe(false);
    // a namespace that is a prefix of another must not reach it
    expect(topicAllowed(p, 'team', 'team-a.requests')).toBe(false);
    expect(topicAllowed(p, 'team-a', 'team-a')).toBe(false);
    expect(topicAllowed(p, 'team-a', 'team-a-requests')).toBe(false);
    expect(topicAllowed(p, 'team-a', 'ymera.events.inferenceservice')).toBe(false);
  });

  it('adds the admin allow-list: exact names and prefixes, per namespace or for every namespace', () => {
    const p = { allow: parseTopicAllowList('team-a=shared-logs, team-a=audit*,*=ymera.events.*') };
    expect(topicAllowed(p, 'team-a', 'shared-logs')).toBe(true);
    expect(topicAllowed(p, 'team-a', 'shared-logs-2')).toBe(false); // exact, not a prefix
    expect(topicAllowed(p, 'team-a', 'audit.2026')).toBe(true);
    expect(topicAllowed(p, 'team-b', 'audit.2026')).toBe(false);
    expect(topicAllowed(p, 'team-b', 'ymera.events.learningpipeline')).toBe(true);
    expect(grantedPatterns(p, 'team-a')).toEqual(['shared-logs', 'audit*', 'ymera.events.*']);
  });

  it('does not restrict cluster-scoped resources', () => {
    expect(topicAllowed(DEFAULT_TOPIC_POLICY, undefined, 'anything')).toBe(true);
  });

  it('names the field, the namespace and what is allowed when refusing', () => {
    const p = { allow: { 'team-a': ['shared-logs'] } };
    expect(topicNotAllowedMessage(p, 'team-a', 'team-a.x', 'spec.logging.kafka.topic')).toBeUndefined();
    expect(topicNotAllowedMessage(p, 'team-a', 'team-b.x', 'spec.logging.kafka.topic')).toBe(
      'spec.logging.kafka.topic: topic "team-b.x" is not allowed in namespace team-a: topics must start with "team-a." ' +
        "or match the cluster admin's allow-list (shared-logs); a cluster admin can grant more names with the operator flag " +
        '--kafka-topic-allow (chart value kafka.topicAllowList)',
    );
    expect(topicNotAllowedMessage(DEFAULT_TOPIC_POLICY, 'b', 'x', 'spec.triggers.kafka.topic')).toMatch(
      /^spec\.triggers\.kafka\.topic: topic "x" is not allowed in namespace b: topics must start with "b\."; a cluster admin/,
    );
  });

  it('rejects malformed allow-list entries, naming the entry and the format', () => {
    expect(parseTopicAllowList('')).toEqual({});
    expect(parseTopicAllowList('a=x,a=x')).toEqual({ a: ['x'] });
    for (const bad of ['nonamespace', '=x', 'a=', 'A=x', 'a=b*c', 'a=**', 'a=x y', 'a=b/c']) {
      expect(() => parseTopicAllowList(bad), bad).toThrow(
        /must be <namespace>=<topic> or <namespace>=<prefix>\*/,
      );
    }
  });
});

describe('which topics deleting a resource deletes', () => {
  it('deletes a topic the resource created, unless Retain', () => {
    expect(deletesTopic({ created: true })).toBe(true);
    expect(deletesTopic({ created: true, deletionPolicy: 'Delete' })).toBe(true);
    expect(deletesTopic({ created: true, deletionPolicy: 'Retain' })).toBe(false);
  });

  it('keeps an adopted topic unless Delete, and never deletes a topic it neither created nor adopted', () => {
    expect(deletesTopic({ created: false, adopt: true })).toBe(false);
    expect(deletesTopic({ created: false, adopt: true, deletionPolicy: 'Delete' })).toBe(true);
    expect(deletesTopic({ created: false, adopt: true, deletionPolicy: 'Retain' })).toBe(false);
    expect(deletesTopic({ created: false })).toBe(false);
    expect(deletesTopic({ created: false, deletionPolicy: 'Delete' })).toBe(false);
  });

  it('says why a topic stays', () => {
    expect(retainedReason('t', { created: true, deletionPolicy: 'Retain' })).toBe(
      't stays (deletionPolicy: Retain)'.replace(/^/, 'topic '),
    );
    expect(retainedReason('t', { created: false, adopt: true })).toMatch(/adopted.*deletionPolicy: Delete/);
    expect(retainedReason('t', { created: false })).toBe('topic t stays: this resource did not create it');
  });
});
