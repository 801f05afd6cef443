import { describe, expect, it } from 'vitest';
import { LatencyWindow } from './window.ts';

describe('LatencyWindow', () => {
  it('nearest-rank quantiles over the window; old samples expire', () => {
    let now = 0;
    const w = new LatencyWindow({ windowMs: 1000, now: () => now });
    expect(w.quantile(0.95)).toBe(0);
    for (let i = 1; i <= 100; i++) w.add(i);
    expect(w.quantile(0.95)).toBe(95);
    expect(w.quantile(0.5)).toBe(50);
    expect(w.quantile(1)).toBe(100);
    now = 600;
    w.add(1000);
    expect(w.quantile(1)).toBe(1000);
    now = 1500;
    expect(w.quantile(0.5)).toBe(1000);
    now = 1601;
    expect(w.quantile(0.95)).toBe(0);
  });

  it('keeps at most capacity samples', () => {
    const w = new LatencyWindow({ windowMs: 1e9, capacity: 3 });
    for (const v of [100, 1, 2, 3]) w.add(v);
    expect(w.quantile(1)).toBe(3);
  });
});
