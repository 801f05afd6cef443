// Where a text stops being JSON, without quoting it: V8's JSON.parse errors
// quote the text, which must not reach status or Events (a ConfigMap key may
// hold a secret pasted by mistake).

/**
 * Where (0-based character offset) `text` stops being JSON; undefined when
 * it is JSON or too deeply nested to tell. Says nothing of the content.
 */
export function jsonErrorPosition(text: string): number | undefined {
  let i = 0;
  const fail = (): never => {
    throw new JsonSyntaxAt(i);
  };
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text.charAt(i))) i++;
  };
  const literal = (word: string): void => {
    for (const ch of word) {
      if (text.charAt(i) !== ch) fail();
      i++;
    }
  };
  const string = (): void => {
    i++; // the opening quote
    for (;;) {
      if (i >= text.length) fail();
      const ch = text.charAt(i);
      if (ch === '"') {
        i++;
        return;
      }
      if (ch === '\\') {
        i++;
        const esc = text.charAt(i);
        if (esc === 'u') {
          for (let k = 0; k < 4; k++) {
            i++;
            if (!/[0-9a-fA-F]/.test(text.charAt(i))) fail();
          }
        } else if (!'"\\/bfnrt'.includes(esc) || esc === '') fail();
      } else if (ch.charCodeAt(0) < 0x20) fail();
      i++;
    }
  };
  const digit = (): boolean => {
    const c = text.charAt(i);
    return c >= '0' && c <= '9';
  };
  const digits = (): void => {
    if (!digit()) fail();
    while (digit()) i++;
  };
  const number = (): void => {
    if (text.charAt(i) === '-') i++;
    if (text.charAt(i) === '0') i++;
    else digits();
    if (text.charAt(i) === '.') {
      i++;
      digits();
    }
    if (text.charAt(i) === 'e' || text.charAt(i) === 'E') {
      i++;
      if (text.charAt(i) === '+' || text.charAt(i) === '-') i++;
      digits();
    }
  };
  const value = (): void => {
    ws();
    const ch = text.charAt(i);
    if (ch === '{') {
      i++;
      ws();
      if (text.charAt(i) === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text.charAt(i) !== '"') fail();
        string();
        ws();
        if (text.charAt(i) !== ':') fail();
        i++;
        value();
        ws();
        const next = text.charAt(i);
        i++;
        if (next === '}') return;
        if (next !== ',') {
          i--;
          fail();
        }
      }
    } else if (ch === '[') {
      i++;
      ws();
      if (text.charAt(i) === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        const next = text.charAt(i);
        i++;
        if (next === ']') return;
        if (next !== ',') {
          i--;
          fail();
        }
      }
    } else if (ch === '"') string();
    else if (ch === 't') literal('true');
    else if (ch === 'f') literal('false');
    else if (ch === 'n') literal('null');
    else number();
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
    return undefined;
  } catch (error) {
    if (error instanceof JsonSyntaxAt) return error.position;
    return undefined; // nested too deeply for the stack
  }
}

class JsonSyntaxAt {
  readonly position: number;
  constructor(position: number) {
    this.position = position;
  }
}
