import { describe, expect, it } from 'vitest';
import { CircuitBreaker, CircuitOpenError, exponentialBackoff } from './backoff.ts';
import type { CircuitState } from './backoff.ts';

describe('exponentialBackoff', () => {
  const base = { baseMs: 100, maxMs: 10_000 };

  it('doubles per attempt by default, starting at baseMs', () => {
    const delays = [0, 1, 2, 3, 4].map((attempt) => exponentialBackoff({ ...base, attempt }));
    expect(delays).toEqual([100, 200, 400, 800, 1600]);
  });

  it('honours a custom factor', () => {
    expect(exponentialBackoff({ ...base, attempt: 2, factor: 3 })).toBe(900);
  });

  it('caps at maxMs, including for huge attempts that overflow', () => {
    expect(exponentialBackoff({ ...base, attempt: 7 })).toBe(10_000);
    expect(exponentialBackoff({ ...base, attempt: 5000 })).toBe(10_000);
  });

  it('jitter only shortens the delay, within the given fraction', () => {
    const at = (r: number) => exponentialBackoff({ ...base, attempt: 3, jitter: 0.25, random: () => r });
    expect(at(0)).toBe(800);
    expect(at(0.5)).toBe(700);
    expect(at(0.999999)).toBe(600);
    for (let i = 0; i < 200; i++) {
      const d = exponentialBackoff({ ...base, attempt: 20, jitter: 0.1 });
      expect(d).toBeGreaterThanOrEqual(9_000);
      expect(d).toBeLessThanOrEqual(10_000);
    }
  });

  it('clamps a misbehaving random source', () => {
    expect(exponentialBackoff({ ...base, attempt: 0, jitter: 0.5, random: () => 7 })).toBe(50);
    expect(exponentialBackoff({ ...base, attempt: 0, jitter: 0.5, random: () => -1 })).toBe(100);
  });

  it('rejects invalid input', () => {
    expect(() => exponentialBackoff({ ...base, attempt: -1 })).toThrow(/attempt/);
    expect(() => exponentialBackoff({ ...base, attempt: 1.5 })).toThrow(/attempt/);
    expect(() => exponentialBackoff({ attempt: 0, baseMs: 0, maxMs: 10 })).toThrow(/baseMs/);
    expect(() => exponentialBackoff({ attempt: 0, baseMs: 10, maxMs: 5 })).toThrow(/maxMs/);
    expect(() => exponentialBackoff({ ...base, attempt: 0, factor: 0.5 })).toThrow(/factor/);
    expect(() => exponentialBackoff({ ...base, attempt: 0, jitter: 1.5 })).toThrow(/jitter/);
  });
});

describe('CircuitBreaker', () => {
  function setup(extra: { isFailure?: (e: unknown) => boolean } = {}) {
    let now = 1_000;
    const transitions: string[] = [];
    const breaker = new CircuitBreaker({
      failureThreshold: 3,
      coolDownMs: 5_000,
      now: () => now,
      onStateChange: (from: CircuitState, to: CircuitState) => transitions.push(`${from}->${to}`),
      ...extra,
    });
    return { breaker, transitions, advance: (ms: number) => (now += ms) };
  }
  const fail = () => Promise.reject(new Error('boom'));

  it('opens after the threshold of consecutive failures', async () => {
    const { breaker, transitions } = setup();
    for (let i = 0; i < 2; i++) await expect(breaker.execute(fail)).rejects.toThrow('boom');
    expect(breaker.state).toBe('closed');
    await expect(breaker.execute(fail)).rejects.toThrow('boom');
    expect(breaker.state).toBe('open');
    expect(transitions).toEqual(['closed->open']);
  });

  it('a success resets the consecutive failure count', async () => {
    const { breaker } = setup();
    await expect(breaker.execute(fail)).rejects.toThrow();
    await expect(breaker.execute(fail)).rejects.toThrow();
    await breaker.execute(async () => 'ok');
    expect(breaker.failures).toBe(0);
    await expect(breaker.execute(fail)).rejects.toThrow();
    await expect(breaker.execute(fail)).rejects.toThrow();
    expect(breaker.state).toBe('closed');
  });

  it('fails fast while open without calling the dependency', async () => {
    const { breaker, advance } = setup();
    for (let i = 0; i < 3; i++) await expect(breaker.execute(fail)).rejects.toThrow();
    advance(1_000);
    let called = false;
    const err = await breaker
      .execute(async () => {
        called = true;
      })
      .catch((e: unknown) => e);
    expect(called).toBe(false);
    expect(err).toBeInstanceOf(CircuitOpenError);
    expect((err as CircuitOpenError).retryAfterMs).toBe(4_000);
  });

  it('half-open allows a single trial; success closes the circuit', async () => {
    const { breaker, advance, transitions } = setup();
    for (let i = 0; i < 3; i++) await expect(breaker.execute(fail)).rejects.toThrow();
    advance(5_000);
    expect(breaker.state).toBe('half-open');
    expect(breaker.allowRequest()).toBe(true);
    expect(breaker.allowRequest()).toBe(false); // trial already in flight
    breaker.recordSuccess();
    expect(breaker.state).toBe('closed');
    expect(transitions).toEqual(['closed->open', 'open->half-open', 'half-open->closed']);
  });

  it('a failed trial re-opens for a fresh cool-down', async () => {
    const { breaker, advance } = setup();
    for (let i = 0; i < 3; i++) await expect(breaker.execute(fail)).rejects.toThrow();
    advance(5_000);
    await expect(breaker.execute(fail)).rejects.toThrow('boom');
    expect(breaker.state).toBe('open');
    expect(breaker.retryAfterMs()).toBe(5_000);
    advance(4_999);
    expect(breaker.state).toBe('open');
    advance(1);
    expect(breaker.state).toBe('half-open');
  });

  it('errors the caller classifies as non-failures do not trip it', async () => {
    const notFound = Object.assign(new Error('404'), { status: 404 });
    const { breaker } = setup({ isFailure: (e) => (e as { status?: number }).status !== 404 });
    for (let i = 0; i < 5; i++) {
      await expect(breaker.execute(() => Promise.reject(notFound))).rejects.toBe(notFound);
    }
    expect(breaker.state).toBe('closed');
  });

  it('rejects invalid options', () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0 })).toThrow(/failureThreshold/);
    expect(() => new CircuitBreaker({ coolDownMs: -1 })).toThrow(/coolDownMs/);
  });
});
