import { describe, expect, it } from 'vitest';
import type { PodObject } from '../../operator/kube/workloads.ts';
import { evaluateGate, parseMetrics, terminationMessageOf } from './gate.ts';

describe('parseMetrics', () => {
  it('reads a flat object of numbers', () => {
    expect(parseMetrics('{"auc": 0.95, "loss": 1e-3, "epochs": 3, "delta": -2}')).toEqual({
      metrics: { auc: 0.95, loss: 0.001, epochs: 3, delta: -2 },
    });
    expect(parseMetrics(' {} \n')).toEqual({ metrics: {} });
  });

  it('leaves out the model digest a step that writes both reports next to its metrics', () => {
    const sha256 = 'ab'.repeat(32);
    expect(parseMetrics(JSON.stringify({ auc: 0.95, sha256 }))).toEqual({ metrics: { auc: 0.95 } });
  });

  it('rejects what is not a JSON object', () => {
    for (const text of ['', 'auc=0.9', '[1,2]', 'null', '0.95', '"x"']) {
      expect(parseMetrics(text), text).toHaveProperty('error');
    }
    expect(parseMetrics('[1]')).toEqual({ error: expect.stringContaining('JSON object') });
  });

  it('names the key whose value is not a finite number', () => {
    expect(parseMetrics('{"auc": 0.9, "model": "xgb"}')).toEqual({
      error: 'metric "model" must be a finite number, got string',
    });
    expect(parseMetrics('{"a": {"b": 1}}')).toEqual({
      error: 'metric "a" must be a finite number, got object',
    });
    expect(parseMetrics('{"a": null}')).toEqual({ error: 'metric "a" must be a finite number, got null' });
    expect(parseMetrics('{"a": [1]}')).toEqual({ error: 'metric "a" must be a finite number, got array' });
    expect(parseMetrics('{"a": 1e999}')).toEqual({ error: 'metric "a" must be a finite number, got number' });
  });

  it('caps the keys and the size', () => {
    const many = (n: number) =>
      JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [`m${i}`, i])));
    expect(parseMetrics(many(64))).toHaveProperty('metrics');
    expect(parseMetrics(many(65))).toEqual({ error: 'metrics have 65 keys, more than 64' });
    expect(parseMetrics(`{"a": 1}${' '.repeat(4088)}`)).toHaveProperty('metrics'); // 4096 bytes
    expect(parseMetrics(`{"a": 1}${' '.repeat(4089)}`)).toEqual({
      error: 'metrics are 4097 bytes, more than 4096',
    });
  });

  it('keeps a __proto__ key as a plain key', () => {
    const result = parseMetrics('{"__proto__": 1, "auc": 0.9}');
    if (!('metrics' in result)) throw new Error(result.error);
    expect(Object.getPrototypeOf(result.metrics)).toBe(Object.prototype);
    expect(Object.hasOwn(result.metrics, '__proto__')).toBe(true);
    expect(Object.keys(result.metrics)).toEqual(['__proto__', 'auc']);
  });
});

describe('evaluateGate', () => {
  const metrics = { auc: 0.95, loss: 0.2 };
  it('passes within the bounds', () => {
    expect(evaluateGate({ metric: 'auc', min: 0.92 }, metrics)).toEqual({
      passed: true,
      message: 'auc 0.95 >= min 0.92',
    });
    expect(evaluateGate({ metric: 'loss', max: 0.3 }, metrics)).toEqual({
      passed: true,
      message: 'loss 0.2 <= max 0.3',
    });
    expect(evaluateGate({ metric: 'auc', min: 0.9, max: 0.99 }, metrics)).toEqual({
      passed: true,
      message: 'auc 0.95 >= min 0.9 and <= max 0.99',
    });
    expect(evaluateGate({ metric: 'auc', min: 0.95, max: 0.95 }, metrics).passed).toBe(true);
  });

  it('fails outside the bounds', () => {
    expect(evaluateGate({ metric: 'auc', min: 0.92 }, { auc: 0.85 })).toEqual({
      passed: false,
      message: 'auc 0.85 < min 0.92',
    });
    expect(evaluateGate({ metric: 'loss', min: 0, max: 0.1 }, metrics)).toEqual({
      passed: false,
      message: 'loss 0.2 > max 0.1',
    });
  });

  it('fails when the metric is missing', () => {
    const missing = { passed: false, message: 'metric auc missing from the metrics artifact' };
    expect(evaluateGate({ metric: 'auc', min: 0.9 }, { loss: 0.1 })).toEqual(missing);
    expect(evaluateGate({ metric: 'auc', min: 0.9 }, undefined)).toEqual(missing);
    expect(evaluateGate({ metric: 'toString', min: 0 }, {}).passed).toBe(false);
  });
});

describe('terminationMessageOf', () => {
  const pod = (
    statuses: { name: string; message?: string; running?: boolean }[],
    containers: string[] = statuses.map((s) => s.name),
  ): PodObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'ml' },
    spec: { containers: containers.map((name) => ({ name, image: 'i' })) },
    status: {
      phase: 'Succeeded',
      containerStatuses: statuses.map(({ name, message, running }) => ({
        name,
        state: running
          ? { running: {} }
          : { terminated: { exitCode: 0, ...(message !== undefined ? { message } : {}) } },
      })),
    },
  });

  it('reads the first container of the spec by default, or the one named', () => {
    // the kubelet sorts statuses by name: "aux" comes first, "train" is the step
    const p = pod(
      [
        { name: 'aux', message: 'aux says hi' },
        { name: 'train', message: '{"auc":0.95}' },
      ],
      ['train', 'aux'],
    );
    expect(terminationMessageOf(p)).toBe('{"auc":0.95}');
    expect(terminationMessageOf(p, 'aux')).toBe('aux says hi');
    expect(terminationMessageOf(p, 'nope')).toBeUndefined();
  });

  it('is undefined without a terminated container or a message', () => {
    expect(terminationMessageOf(pod([{ name: 'train', running: true }]))).toBeUndefined();
    expect(terminationMessageOf(pod([{ name: 'train' }]))).toBeUndefined();
    expect(terminationMessageOf(pod([{ name: 'train', message: '' }]))).toBeUndefined();
    expect(terminationMessageOf({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } })).toBeUndefined();
  });

  it('falls back to the first status when the pod has no spec', () => {
    const p = pod([{ name: 'train', message: 'm' }]);
    delete p.spec;
    expect(terminationMessageOf(p)).toBe('m');
  });
});
