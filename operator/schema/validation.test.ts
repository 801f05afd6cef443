import { describe, expect, it } from 'vitest';
import {
  checkCron,
  checkLabelKey,
  checkLabelSelector,
  checkModelUri,
  checkResources,
  checkTimeZone,
  formatFieldErrors,
  parseDuration,
  parseQuantity,
} from './validation.ts';

describe('formatFieldErrors', () => {
  it('joins errors into one message and caps their number', () => {
    expect(formatFieldErrors([])).toBe('');
    expect(formatFieldErrors([{ field: 'spec.a', message: 'bad' }])).toBe('spec.a: bad');
    const many = Array.from({ length: 7 }, (_, i) => ({ field: `spec.f${i}`, message: 'x' }));
    expect(formatFieldErrors(many, 2)).toBe('spec.f0: x; spec.f1: x (and 5 more)');
  });
});

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['1.5h', 5_400_000],
    ['0', 0],
  ])('%s = %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', '5', 'm5', '5 m', '1d', '5m3', '-5m'])('rejects %j', (text) =>
    expect(parseDuration(text)).toBeUndefined(),
  );
});

describe('parseQuantity', () => {
  it.each([
    ['500m', 0.5],
    ['2', 2],
    ['2Gi', 2 * 2 ** 30],
    ['1k', 1000],
    ['1e3', 1000],
    [4, 4],
  ] as const)('%s', (q, v) => expect(parseQuantity(q)).toBeCloseTo(v));
  it.each(['2GB', 'lots', '', '1.2.3'])('rejects %j', (q) => expect(parseQuantity(q)).toBeUndefined());
});

describe('checkResources', () => {
  it('finds invalid quantities and requests above limits', () => {
    expect(
      checkResources('spec.r', { requests: { cpu: '2', memory: '1Gi' }, limits: { memory: '2Gi' } }),
    ).toEqual([]);
    expect(
      checkResources('spec.r', { requests: { cpu: 'x', memory: '4Gi' }, limits: { memory: '2Gi' } }),
    ).toEqual([
      { field: 'spec.r.requests.cpu', message: 'x is not a quantity' },
      { field: 'spec.r.requests.memory', message: 'request 4Gi exceeds limit 2Gi' },
    ]);
  });
});

describe('checkCron', () => {
  it.each(['0 2 * * *', '@daily', '*/15 9-17 * * mon-fri'])('accepts %j', (expr) =>
    expect(checkCron(expr)).toBeUndefined(),
  );
  it.each([
    ['61 * * * *', /minute/],
    ['0 0 * * * *', /five fields/],
    ['@every 5m', /nickname/],
    ['TZ=UTC 0 2 * * *', /timeZone/],
    ['0 0 30 2 *', /never fires|invalid/],
  ])('rejects %j', (expr, message) => expect(checkCron(expr)).toMatch(message));
  it('reads the schedule in a time zone', () => {
    expect(checkCron('0 2 * * *', 'Europe/Berlin')).toBeUndefined();
    expect(checkTimeZone('Europe/Berlin')).toBeUndefined();
    expect(checkTimeZone('Mars/Olympus')).toMatch(/unknown time zone/);
  });
});

describe('labels and selectors', () => {
  it('checks label keys', () => {
    expect(checkLabelKey('nvidia.com/gpu.present')).toBeUndefined();
    expect(checkLabelKey('kubernetes.io/hostname')).toBeUndefined();
    expect(checkLabelKey('Bad_Prefix/x')).toMatch(/prefix/);
    expect(checkLabelKey('a/b/c')).toMatch(/more than one/);
    expect(checkLabelKey('-x')).toMatch(/invalid/);
  });
  it('checks selectors like the API machinery', () => {
    expect(
      checkLabelSelector('spec.s', {
        matchLabels: { 'nvidia.com/gpu.present': 'true' },
        matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }],
      }),
    ).toEqual([]);
    expect(
      checkLabelSelector('spec.s', {
        matchLabels: { ok: 'not ok' },
        matchExpressions: [
          { key: 'zone', operator: 'In' },
          { key: 'gpu', operator: 'Exists', values: ['x'] },
        ],
      }).map((e) => e.field),
    ).toEqual([
      'spec.s.matchLabels[ok]',
      'spec.s.matchExpressions[0].values',
      'spec.s.matchExpressions[1].values',
    ]);
  });
});

describe('checkModelUri', () => {
  it.each([
    'file:///models/m.onnx',
    'https://models.example.com/m.onnx',
    's3://bucket/path/m.onnx',
    'pvc://models/fraud/m.onnx',
  ])('accepts %s', (uri) => expect(checkModelUri(uri)).toBeUndefined());
  it.each([
    ['ftp://x/m.onnx', /scheme/],
    ['file://relative.onnx', /absolute/],
    ['s3://bucket', /bucket and a key/],
    ['s3://B/m.onnx', /bucket/],
    ['pvc://claim', /claim and a path/],
    ['pvc://claim/../etc', /\.\./],
    ['http://', /valid URL|host/],
  ])('rejects %s', (uri, message) => expect(checkModelUri(uri)).toMatch(message));
});
