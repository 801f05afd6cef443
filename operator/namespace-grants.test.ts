import { describe, expect, it } from 'vitest';
import {
  grantedNamespaces,
  namespaceGranted,
  namespacesNotAllowedMessage,
  parseNamespaceGrants,
} from './namespace-grants.ts';

describe('parseNamespaceGrants', () => {
  it('reads exact names and prefixes per policy namespace, * for every namespace', () => {
    expect(parseNamespaceGrants(' ops=team-a, ops=team-*,ops=team-a, *=shared ,platform=*')).toEqual({
      ops: ['team-a', 'team-*'],
      '*': ['shared'],
      platform: ['*'],
    });
    expect(parseNamespaceGrants('')).toEqual({});
  });

  it.each([
    'ops',
    'ops=',
    '=team-a',
    'Ops=team-a',
    'ops=Team',
    'ops=te*am',
    'ops=-x*',
    `ops=${'a'.repeat(64)}`,
  ])('refuses %j naming the entry and the format', (text) => {
    expect(() => parseNamespaceGrants(text)).toThrow(
      /must be <policyNamespace>=<namespace> or <policyNamespace>=<prefix>\*/,
    );
    expect(() => parseNamespaceGrants(text)).toThrow(JSON.stringify(text.trim()));
  });
});

describe('namespaceGranted', () => {
  const grants = parseNamespaceGrants('ops=team-a,ops=data-*,*=shared,root=*');

  it('always allows the own namespace, and nothing else by default', () => {
    expect(namespaceGranted({}, 'a', 'a')).toBe(true);
    expect(namespaceGranted({}, 'a', 'b')).toBe(false);
  });

  it('allows what the admin granted: exact, prefix, for every namespace, every target', () => {
    expect(namespaceGranted(grants, 'ops', 'team-a')).toBe(true);
    expect(namespaceGranted(grants, 'ops', 'team-ab')).toBe(false);
    expect(namespaceGranted(grants, 'ops', 'data-1')).toBe(true);
    expect(namespaceGranted(grants, 'ops', 'data')).toBe(false);
    expect(namespaceGranted(grants, 'anyone', 'shared')).toBe(true);
    expect(namespaceGranted(grants, 'anyone', 'team-a')).toBe(false);
    expect(namespaceGranted(grants, 'root', 'kube-system')).toBe(true);
    expect(grantedNamespaces(grants, 'ops')).toEqual(['team-a', 'data-*', 'shared']);
  });

  it('says what is refused, what is granted and how to grant more', () => {
    expect(namespacesNotAllowedMessage(grants, 'ops', ['x', 'y'], 'spec.include.namespaces')).toBe(
      'spec.include.namespaces: a resource in namespace ops reaches only its own namespace and those the cluster admin granted (team-a, data-*, shared); x, y are not allowed; a cluster admin grants more with the operator flag --backup-namespace-grant=ops=<namespace> (chart value backup.namespaceGrants)',
    );
    expect(namespacesNotAllowedMessage({}, 'a', ['b'], 'f')).toContain('own namespace; b is not allowed;');
  });
});
