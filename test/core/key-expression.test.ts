// Key expressions: paths and templates read off an event, and the clear errors for bad ones.
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/core/config.js';
import { ValidationError } from '../../src/core/errors.js';
import {
  compileKeyExpression,
  partitionKeyOf,
  routeKeyConflict,
  routeKeyOf,
} from '../../src/core/key-expression.js';
import { on } from '../../src/core/route.js';

const event = {
  subject: 'acme/app',
  partitionkey: 'pk',
  data: { number: 42, pull_request: { number: 7, draft: false, labels: ['a', 'b'] }, empty: '' },
};

describe('compileKeyExpression', () => {
  it('reads a path, giving scalars as text', () => {
    expect(compileKeyExpression('data.pull_request.number')(event)).toBe('7');
    expect(compileKeyExpression('subject')(event)).toBe('acme/app');
    expect(compileKeyExpression('data.pull_request.draft')(event)).toBe('false');
    expect(compileKeyExpression('data.empty')(event)).toBe('');
  });

  it('gives objects and arrays as their JSON, and reads array items by index', () => {
    expect(compileKeyExpression('data.pull_request.labels')(event)).toBe('["a","b"]');
    expect(compileKeyExpression('data.pull_request.labels.1')(event)).toBe('b');
  });

  it('fills a template, literal text kept', () => {
    expect(compileKeyExpression('{subject}#{data.number}')(event)).toBe('acme/app#42');
    expect(compileKeyExpression('pr-{data.pull_request.number}')(event)).toBe('pr-7');
  });

  it('gives no key when a path is missing, also inside a template', () => {
    expect(compileKeyExpression('data.issue.number')(event)).toBeNull();
    expect(compileKeyExpression('{subject}#{data.issue}')(event)).toBeNull();
    expect(compileKeyExpression('data.number.x')(event)).toBeNull();
    expect(compileKeyExpression('subject')({})).toBeNull();
    expect(compileKeyExpression('subject')(null)).toBeNull();
  });

  it("never reads through the prototype: only the event's own fields count", () => {
    expect(compileKeyExpression('data.hasOwnProperty')(event)).toBeNull();
    expect(compileKeyExpression('subject.length')(event)).toBeNull();
  });

  it.each([
    ['', /got an empty expression/],
    ['data..number', /path "data..number" has an empty segment/],
    ['data.number.', /has an empty segment/],
    ['data.pull request', /segment "pull request" of path "data.pull request" may hold only/],
    ['{subject', /"\{" at position 1 is never closed/],
    ['subject}', /"\}" at position 8 has no "\{"/],
    ['{a{b}}', /braces cannot nest/],
    ['a-{}', /expected a path inside "\{\}", got nothing/],
    ['data.__proto__.x', /segment "__proto__" of path "data.__proto__.x" is not allowed/],
  ])('refuses %j, saying why', (expression, why) => {
    expect(() => compileKeyExpression(expression)).toThrow(ValidationError);
    expect(() => compileKeyExpression(expression)).toThrow(why);
  });

  it('defaults to the partitionkey', () => {
    expect(partitionKeyOf(event)).toBe('pk');
    expect(partitionKeyOf({})).toBeNull();
  });
});

describe('route keys', () => {
  const handler = () => undefined;

  it('takes the one key a route names, wherever it is named', () => {
    expect(routeKeyOf({ debounce: { key: 'subject' } }, 'r')).toBe('subject');
    expect(routeKeyOf({ key: 'subject', singleton: { key: 'subject' } }, 'r')).toBe('subject');
    expect(routeKeyOf({}, 'r')).toBeUndefined();
  });

  it('refuses keys that disagree, naming the route and each key', () => {
    const route = { key: 'subject', batch: { key: 'data.number' } };
    expect(routeKeyConflict(route)).toMatch(/key is 'subject', batch.key is 'data.number'/);
    expect(() => routeKeyOf(route, 'digest')).toThrow(/route "digest": the route has one key/);
  });

  it('makes validateConfig refuse batch with debounce or singleton, and disagreeing keys', () => {
    const batch = { maxSize: 5, maxWaitMs: 1_000 };
    const debounced = { ...on('a.x', { handler }), batch, debounce: { waitMs: 10 } };
    expect(() => validateConfig({ routes: [debounced] }, 'cfg.ts')).toThrow(
      /cfg.ts: routes\[0\] \("a.x"\): batch cannot be combined with debounce/,
    );
    const single = { ...on('a.x', { handler }), batch, singleton: { mode: 'skip' as const } };
    expect(() => validateConfig({ routes: [single] }, 'cfg.ts')).toThrow(
      /batch cannot be combined with singleton/,
    );
    const keys = on('a.x', { handler, key: 'subject', debounce: { key: 'data.n', waitMs: 10 } });
    expect(() => validateConfig({ routes: [keys] }, 'cfg.ts')).toThrow(
      /routes\[0\] \("a.x"\): the route has one key.*debounce.key is 'data.n'/,
    );
    expect(
      validateConfig({ routes: [on('a.x', { handler, batch })] }, 'cfg.ts').routes,
    ).toHaveLength(1);
  });
});
