import { describe, expect, it } from 'vitest';
import { jsonErrorPosition } from './json-position.ts';

describe('jsonErrorPosition', () => {
  it('is undefined for JSON', () => {
    for (const ok of ['{}', ' {"a": [1, -2.5e3, true, false, null, "x\\u00e9\\n"]} ', '"s"', '0', '[]'])
      expect(jsonErrorPosition(ok), ok).toBeUndefined();
  });

  it('agrees with the position V8 reports, where it reports one', () => {
    const samples = [
      '{"a":1,}',
      '[1, 2',
      '{"a":1} x',
      '{"a" 1}',
      '[01]',
      '{"a":"\\x"}',
      '{"a":"b\nc"}',
      '',
      '  ',
      '-',
      '1.',
      '1e',
      '-x',
      '{,}',
      '[1,]',
    ];
    let compared = 0;
    for (const text of samples) {
      let v8: number | undefined;
      try {
        JSON.parse(text);
      } catch (error) {
        const m = /at position (\d+)/.exec((error as Error).message);
        const message = (error as Error).message;
        if (message.startsWith('Unexpected end')) v8 = text.length;
        else if (m) v8 = Number(m[1]);
        else continue; // "Unexpected token …" gives no position
      }
      expect(jsonErrorPosition(text), JSON.stringify(text)).toBe(v8);
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(10);
    // where V8 names only the token, the position is that token's
    expect(jsonErrorPosition('[1,]')).toBe(3);
    expect(jsonErrorPosition('password: x')).toBe(0);
  });
});
