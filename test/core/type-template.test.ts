// Type templates for generic webhooks: filled from the body, sanitized, checked up front.
import { describe, expect, it } from 'vitest';
import { fillTemplate, typeSegments, typeTemplateProblem } from '../../src/core/type-template.js';

describe('type templates', () => {
  it('fills placeholders from nested fields of the body', () => {
    const payload = { type: 'invoice.paid', data: { object: { kind: 'card' } }, n: 3 };
    expect(fillTemplate('billing.{{type}}.{{data.object.kind}}', payload, typeSegments)).toEqual({
      text: 'billing.invoice.paid.card',
      missing: [],
    });
    expect(fillTemplate('x.{{ n }}', payload, typeSegments).text).toBe('x.3');
  });

  it('reports fields that are absent or not scalars and fills them with "unknown"', () => {
    expect(fillTemplate('a.{{nope}}.{{data}}', { data: {} }, typeSegments)).toEqual({
      text: 'a.unknown.unknown',
      missing: ['nope', 'data'],
    });
  });

  it('keeps only letters, digits, _ and - in each segment and caps the length', () => {
    expect(typeSegments('a b*c/d')).toBe('a_b_c_d');
    expect(typeSegments('..x..y..')).toBe('x.y');
    expect(typeSegments('')).toBe('unknown');
    expect(typeSegments('z'.repeat(500))).toHaveLength(100);
  });

  it('names what is wrong with a template that cannot make a valid type', () => {
    expect(typeTemplateProblem('billing.{{type}}')).toBeUndefined();
    expect(typeTemplateProblem('billing..{{type}}')).toMatch(/dotted segments/);
    expect(typeTemplateProblem('billing.{{ty pe}}')).toMatch(/placeholders/);
  });
});
