// The envelope: validation that names the bad field, defaults agentd fills in, trust rules.
import { describe, expect, it } from 'vitest';
import { deriveEvent, toEvent } from '../../src/core/envelope.js';
import { ValidationError } from '../../src/core/errors.js';

const defaults = { source: 'agentd://test', trust: 'operator' as const };

function issuesOf(raw: unknown): string[] {
  try {
    toEvent(raw, defaults);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return [...(error as ValidationError).issues];
  }
  throw new Error('expected a validation error');
}

describe('toEvent', () => {
  it('fills in id (UUIDv7), source, time, specversion, correlation, depth and trust', () => {
    const e = toEvent({ type: 'demo.hello', data: { a: 1 } }, defaults);
    expect(e.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/);
    expect(e).toMatchObject({
      specversion: '1.0',
      source: 'agentd://test',
      depth: 0,
      trust: 'operator',
      data: { a: 1 },
    });
    expect(e.correlationid).toBe(e.id);
    expect(Date.parse(e.time)).not.toBeNaN();
  });

  it('creates ids that sort by creation time', () => {
    const ids = Array.from({ length: 50 }, () => toEvent({ type: 'a' }, defaults).id);
    expect([...ids].sort()).toEqual(ids);
  });

  it('keeps extension attributes and given values', () => {
    const e = toEvent(
      {
        type: 'a.b',
        id: 'x',
        source: 's',
        partitionkey: 'k',
        depth: 3,
        comexampleext: 'v',
        time: '2026-01-01T00:00:00Z',
      },
      defaults,
    );
    expect(e).toMatchObject({
      id: 'x',
      source: 's',
      partitionkey: 'k',
      depth: 3,
      comexampleext: 'v',
      time: '2026-01-01T00:00:00Z',
    });
  });

  it('names the bad field and what was expected', () => {
    expect(issuesOf({ type: 42 })[0]).toMatch(/^type: .*expected string/);
    expect(issuesOf({ type: 'has space' })[0]).toMatch(/^type: expected dotted segments/);
    expect(issuesOf({ type: 'a', depth: -1 })[0]).toMatch(/^depth: /);
    expect(issuesOf({ type: 'a', trust: 'root' })[0]).toMatch(/^trust: .*"external"/);
    expect(issuesOf({ type: 'a', traceparent: 'nope' })[0]).toMatch(
      /^traceparent: expected a W3C traceparent/,
    );
    expect(issuesOf({ type: 'a', time: 'yesterday' })[0]).toMatch(
      /^time: expected an RFC 3339 timestamp/,
    );
    expect(issuesOf({ type: 'a', specversion: '0.3' })[0]).toMatch(/^specversion: expected "1.0"/);
    expect(issuesOf({ type: 'a', Bad_Name: 1 })[0]).toMatch(
      /^Bad_Name: expected a CloudEvents attribute name/,
    );
    expect(issuesOf({ type: 'a', data: 1, data_base64: 'AA==' })[0]).toMatch(
      /^data_base64: expected either data or data_base64/,
    );
    expect(issuesOf({})[0]).toMatch(/^type: /);
    expect(issuesOf([1])[0]).toMatch(/expected an object, got array/);
    expect(issuesOf(null)[0]).toMatch(/got null/);
  });

  it('lets a producer lower its trust but never raise it above the cap', () => {
    expect(
      toEvent({ type: 'a', trust: 'internal' }, { ...defaults, maxTrust: 'operator' }).trust,
    ).toBe('operator');
    expect(toEvent({ type: 'a', trust: 'external' }, defaults).trust).toBe('external');
  });
});

describe('deriveEvent', () => {
  it('carries causation, correlation, trace id and depth + 1', () => {
    const parent = toEvent(
      { type: 'root', traceparent: '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01' },
      defaults,
    );
    const child = deriveEvent(parent, { type: 'child' }, 'agentd://node');
    expect(child).toMatchObject({
      causationid: parent.id,
      correlationid: parent.id,
      depth: 1,
      source: 'agentd://node',
    });
    expect(child.traceparent?.split('-')[1]).toBe('0123456789abcdef0123456789abcdef');
    expect(child.traceparent).not.toBe(parent.traceparent);
    const grandchild = deriveEvent(child, { type: 'grandchild' }, 'agentd://node');
    expect(grandchild).toMatchObject({ causationid: child.id, correlationid: parent.id, depth: 2 });
  });

  it('keeps external trust along a chain and lowers operator events to at most operator', () => {
    const external = toEvent({ type: 'gh', trust: 'external' }, { ...defaults, trust: 'external' });
    expect(deriveEvent(external, { type: 'x', trust: 'internal' }, 's').trust).toBe('external');
    const operator = toEvent({ type: 'op' }, defaults);
    expect(deriveEvent(operator, { type: 'x' }, 's').trust).toBe('operator');
  });
});
