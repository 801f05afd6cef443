// An offline check of the CEL rules in our CRDs: a parser for CEL's grammar
// (syntax errors), plus a resolver of field references (`self.a.b`,
// `has(self.x)`, macro variables bound to list items) against the schema the
// rule is attached to, so a typo in a field name fails a unit test instead of
// an API server round trip. It does not type-check or estimate cost: the API
// server does that when the CRD is applied (see the e2e tests).
import type { JSONSchemaProps } from './builder.ts';

type Node =
  | { t: 'lit' }
  | { t: 'ident'; name: string }
  | { t: 'select'; operand: Node; field: string }
  | { t: 'call'; target?: Node; fn: string; args: Node[] }
  | { t: 'index'; operand: Node; index: Node }
  | { t: 'list'; items: Node[] }
  | { t: 'map'; entries: [Node, Node][] }
  | { t: 'unary'; op: string; operand: Node }
  | { t: 'binary'; op: string; left: Node; right: Node }
  | { t: 'cond'; test: Node; then: Node; else: Node };

interface Token {
  kind: 'num' | 'str' | 'ident' | 'op' | 'eof';
  text: string;
  pos: number;
}

const OPERATORS = [
  '&&',
  '||',
  '==',
  '!=',
  '<=',
  '>=',
  '<',
  '>',
  '+',
  '-',
  '*',
  '/',
  '%',
  '!',
  '?',
  ':',
  '.',
  ',',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
];
const RESERVED = new Set([
  'as',
  'break',
  'const',
  'continue',
  'else',
  'for',
  'function',
  'if',
  'import',
  'let',
  'loop',
  'package',
  'namespace',
  'return',
  'var',
  'void',
  'while',
]);

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    // string and bytes literals, with optional r/R (raw) and b/B prefixes
    const prefix = /^([rRbB]{0,2})('''|"""|'|")/.exec(src.slice(i));
    if (prefix && (prefix[1] === '' || /^[rRbB]+$/.test(prefix[1]!))) {
      const raw = /[rR]/.test(prefix[1]!);
      const quote = prefix[2]!;
      i += prefix[0].length;
      let closed = false;
      while (i < src.length) {
        if (src.startsWith(quote, i)) {
          i += quote.length;
          closed = true;
          break;
        }
        if (!raw && src[i] === '\\') {
          const esc = src[i + 1] ?? '';
          if (!/[abfnrtv\\'"`?xuU0-7]/.test(esc)) throw new Error(`invalid escape \\${esc} at ${i}`);
          i += 2;
          continue;
        }
        if (quote.length === 1 && (src[i] === '\n' || src[i] === '\r')) break;
        i++;
      }
      if (!closed) throw new Error(`unterminated string at ${start}`);
      tokens.push({ kind: 'str', text: src.slice(start, i), pos: start });
      continue;
    }
    const num = /^(0x[0-9a-fA-F]+u?|(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?u?)/.exec(src.slice(i));
    if (num && /[\d.]/.test(c) && !(c === '.' && !/\d/.test(src[i + 1] ?? ''))) {
      i += num[0].length;
      tokens.push({ kind: 'num', text: num[0], pos: start });
      continue;
    }
    const ident = /^[_a-zA-Z][_a-zA-Z0-9]*/.exec(src.slice(i));
    if (ident) {
      i += ident[0].length;
      tokens.push({ kind: 'ident', text: ident[0], pos: start });
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i));
    if (!op) throw new Error(`unexpected character ${JSON.stringify(c)} at ${i}`);
    i += op.length;
    tokens.push({ kind: 'op', text: op, pos: start });
  }
  tokens.push({ kind: 'eof', text: '', pos: src.length });
  return tokens;
}

class Parser {
  private i = 0;
  private readonly tokens: Token[];
  constructor(tokens: Token[]) {
    this.tokens = tokens;
  }
  private peek(): Token {
    return this.tokens[this.i]!;
  }
  private next(): Token {
    return this.tokens[this.i++]!;
  }
  private accept(text: string): boolean {
    const t = this.peek();
    if ((t.kind === 'op' || t.kind === 'ident') && t.text === text) {
      this.i++;
      return true;
    }
    return false;
  }
  private expect(text: string): void {
    const t = this.peek();
    if (!this.accept(text))
      throw new Error(`expected ${text} at ${t.pos}, found ${t.text || 'end of input'}`);
  }

  parse(): Node {
    const e = this.expr();
    if (this.peek().kind !== 'eof') throw new Error(`unexpected ${this.peek().text} at ${this.peek().pos}`);
    return e;
  }
  private expr(): Node {
    const test = this.or();
    if (this.accept('?')) {
      const then = this.or();
      this.expect(':');
      return { t: 'cond', test, then, else: this.expr() };
    }
    return test;
  }
  private binaryLevel(ops: string[], sub: () => Node): Node {
    let left = sub();
    for (;;) {
      const t = this.peek();
      if ((t.kind === 'op' || (t.kind === 'ident' && t.text === 'in')) && ops.includes(t.text)) {
        this.i++;
        left = { t: 'binary', op: t.text, left, right: sub() };
      } else {
        return left;
      }
    }
  }
  private or(): Node {
    return this.binaryLevel(['||'], () => this.and());
  }
  private and(): Node {
    return this.binaryLevel(['&&'], () => this.relation());
  }
  private relation(): Node {
    return this.binaryLevel(['<', '<=', '>', '>=', '==', '!=', 'in'], () => this.addition());
  }
  private addition(): Node {
    return this.binaryLevel(['+', '-'], () => this.multiplication());
  }
  private multiplication(): Node {
    return this.binaryLevel(['*', '/', '%'], () => this.unary());
  }
  private unary(): Node {
    if (this.accept('!')) return { t: 'unary', op: '!', operand: this.unary() };
    if (this.accept('-')) return { t: 'unary', op: '-', operand: this.unary() };
    return this.member();
  }
  private member(): Node {
    let node = this.primary();
    for (;;) {
      if (this.accept('.')) {
        this.accept('?');
        const t = this.next();
        if (t.kind !== 'ident') throw new Error(`expected a field name at ${t.pos}`);
        if (this.accept('(')) node = { t: 'call', target: node, fn: t.text, args: this.args(')') };
        else node = { t: 'select', operand: node, field: t.text };
      } else if (this.accept('[')) {
        this.accept('?');
        const index = this.expr();
        this.expect(']');
        node = { t: 'index', operand: node, index };
      } else {
        return node;
      }
    }
  }
  private args(close: string): Node[] {
    const out: Node[] = [];
    if (this.accept(close)) return out;
    do {
      if (close === ']' && this.peek().text === ']') break; // trailing comma
      out.push(this.expr());
    } while (this.accept(','));
    this.expect(close);
    return out;
  }
  private primary(): Node {
    const t = this.next();
    if (t.kind === 'num' || t.kind === 'str') return { t: 'lit' };
    if (t.kind === 'ident') {
      if (['true', 'false', 'null'].includes(t.text)) return { t: 'lit' };
      if (RESERVED.has(t.text)) throw new Error(`reserved word ${t.text} at ${t.pos}`);
      if (this.accept('(')) return { t: 'call', fn: t.text, args: this.args(')') };
      return { t: 'ident', name: t.text };
    }
    if (t.text === '.') {
      const id = this.next();
      if (id.kind !== 'ident') throw new Error(`expected an identifier at ${id.pos}`);
      return { t: 'ident', name: id.text };
    }
    if (t.text === '(') {
      const e = this.expr();
      this.expect(')');
      return e;
    }
    if (t.text === '[') return { t: 'list', items: this.args(']') };
    if (t.text === '{') {
      const entries: [Node, Node][] = [];
      if (!this.accept('}')) {
        do {
          if (this.peek().text === '}') break;
          const k = this.expr();
          this.expect(':');
          entries.push([k, this.expr()]);
        } while (this.accept(','));
        this.expect('}');
      }
      return { t: 'map', entries };
    }
    throw new Error(`unexpected ${t.text || 'end of input'} at ${t.pos}`);
  }
}

/** Parses a CEL expression; throws with a position on a syntax error. */
export function parseCel(src: string): unknown {
  return new Parser(tokenize(src)).parse();
}

const TYPE_NAMES = new Set([
  'int',
  'uint',
  'double',
  'string',
  'bool',
  'bytes',
  'list',
  'map',
  'null_type',
  'type',
  'dyn',
]);
const MACROS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);
const ANY: JSONSchemaProps = { 'x-kubernetes-preserve-unknown-fields': true };
/** Fields CEL can read at the root of a custom resource besides spec and status. */
const ROOT_METADATA: JSONSchemaProps = {
  type: 'object',
  properties: { name: { type: 'string' }, generateName: { type: 'string' } },
};

function field(
  schema: JSONSchemaProps | undefined,
  name: string,
  problems: string[],
): JSONSchemaProps | undefined {
  if (!schema || schema === ANY || schema['x-kubernetes-preserve-unknown-fields']) return ANY;
  if (schema.additionalProperties) return schema.additionalProperties;
  if (schema.type !== 'object' || !schema.properties) {
    problems.push(`.${name} is not a field (the value is not an object)`);
    return undefined;
  }
  const prop = schema.properties[name];
  if (!prop) problems.push(`no field ${name} (fields: ${Object.keys(schema.properties).join(', ')})`);
  return prop;
}

/**
 * Checks a rule attached to `schema` (the value of `self`): syntax, macro
 * shapes, and every field reference. Returns the problems found.
 */
export function checkCelRule(rule: string, schema: JSONSchemaProps, isRoot = false): string[] {
  let ast: Node;
  try {
    ast = parseCel(rule) as Node;
  } catch (err) {
    return [`syntax: ${(err as Error).message}`];
  }
  const problems: string[] = [];
  const self = isRoot ? { ...schema, properties: { ...schema.properties, metadata: ROOT_METADATA } } : schema;

  // Returns the schema of the value an expression yields, when it is a field reference.
  const walk = (node: Node, scope: Map<string, JSONSchemaProps>): JSONSchemaProps | undefined => {
    switch (node.t) {
      case 'lit':
        return undefined;
      case 'ident':
        if (!scope.has(node.name) && !TYPE_NAMES.has(node.name))
          problems.push(`unknown identifier ${node.name}`);
        return scope.get(node.name);
      case 'select':
        return field(walk(node.operand, scope), node.field, problems);
      case 'index': {
        const operand = walk(node.operand, scope);
        walk(node.index, scope);
        if (!operand || operand === ANY) return operand;
        return operand.items ?? operand.additionalProperties ?? ANY;
      }
      case 'list':
        node.items.forEach((n) => walk(n, scope));
        return undefined;
      case 'map':
        node.entries.forEach(([k, v]) => {
          walk(k, scope);
          walk(v, scope);
        });
        return undefined;
      case 'unary':
        walk(node.operand, scope);
        return undefined;
      case 'binary':
        walk(node.left, scope);
        walk(node.right, scope);
        return undefined;
      case 'cond':
        walk(node.test, scope);
        walk(node.then, scope);
        walk(node.else, scope);
        return undefined;
      case 'call': {
        if (!node.target && node.fn === 'has') {
          if (node.args.length !== 1 || node.args[0]!.t !== 'select')
            problems.push('has() takes one field selection');
          else walk(node.args[0]!, scope);
          return undefined;
        }
        if (node.target && MACROS.has(node.fn)) {
          const target = walk(node.target, scope);
          const [v, ...rest] = node.args;
          const arity = node.fn === 'map' ? [2, 3] : [2];
          if (!v || v.t !== 'ident' || !arity.includes(node.args.length)) {
            problems.push(`${node.fn}() takes a variable and an expression`);
            return undefined;
          }
          const element =
            target === undefined || target === ANY
              ? ANY
              : target.type === 'array'
                ? (target.items ?? ANY)
                : target.additionalProperties || target.properties
                  ? { type: 'string' as const }
                  : ANY;
          const inner = new Map(scope).set(v.name, element);
          rest.forEach((n) => walk(n, inner));
          return undefined;
        }
        if (node.target) walk(node.target, scope);
        node.args.forEach((n) => walk(n, scope));
        return undefined;
      }
    }
  };
  walk(
    ast,
    new Map([
      ['self', self],
      ['oldSelf', self],
    ]),
  );
  return problems;
}
