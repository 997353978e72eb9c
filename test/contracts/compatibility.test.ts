// The compatibility check: a released version may widen, never break; a breaking change passes
// only as a new version with an upcaster.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { checkCompatibility, takeSnapshot } from '../../src/contracts/compatibility.js';
import { TypeRegistry } from '../../src/contracts/type-registry.js';
import { defineEventType } from '../../src/core/event-type.js';

const released = takeSnapshot(
  new TypeRegistry([
    defineEventType(
      'billing.invoice.paid',
      z.object({
        invoice: z.string(),
        amount: z.number(),
        status: z.enum(['paid', 'refunded']),
        note: z.string().optional(),
        lines: z.array(z.object({ sku: z.string(), qty: z.int() })),
      }),
    ),
  ]),
);

const check = (...types: Parameters<typeof defineEventType>[]) =>
  checkCompatibility(released, new TypeRegistry(types.map((args) => defineEventType(...args))))
    .breaking;

const base = {
  invoice: z.string(),
  amount: z.number(),
  status: z.enum(['paid', 'refunded']),
  note: z.string().optional(),
  lines: z.array(z.object({ sku: z.string(), qty: z.int() })),
};

describe('schemas check', () => {
  it('passes an unchanged or widened version', () => {
    expect(check(['billing.invoice.paid', z.object(base)])).toEqual([]);
    expect(
      check([
        'billing.invoice.paid',
        z.object({
          ...base,
          amount: z.union([z.number(), z.string()]),
          status: z.enum(['paid', 'refunded', 'void']),
          extra: z.boolean().optional(),
        }),
      ]),
    ).toEqual([]);
  });

  it('fails on a removed field, naming type, version and field', () => {
    const { amount, ...rest } = base;
    void amount;
    expect(check(['billing.invoice.paid', z.object(rest)])).toEqual([
      { type: 'billing.invoice.paid', version: 'v1', path: 'amount', change: 'field removed' },
    ]);
  });

  it('fails on a field made required, a new required field and narrowed types', () => {
    const changes = check([
      'billing.invoice.paid',
      z.object({
        ...base,
        note: z.string(),
        currency: z.string(),
        status: z.enum(['paid']),
        lines: z.array(z.object({ sku: z.string().min(3), qty: z.int() })),
      }),
    ]);
    expect(changes.map((c) => `${c.path}: ${c.change}`)).toEqual([
      'status: narrowed: no longer accepts "refunded"',
      'lines[].sku: narrowed: minLength 3',
      'note: field made required',
      'currency: new required field',
    ]);
  });

  it('fails when a released version or type disappears', () => {
    expect(check(['billing.other', z.object(base)]).map((c) => c.change)).toEqual(['type removed']);
  });

  it('passes once the breaking shape is a new version with an upcaster', () => {
    const { amount, ...rest } = base;
    void amount;
    const v2 = defineEventType('billing.invoice.paid', z.object(base)).next(
      z.object({ ...rest, cents: z.int() }),
      (v1) => ({ ...v1, cents: Math.round(v1.amount * 100) }),
    );
    const report = checkCompatibility(released, new TypeRegistry([v2]));
    expect(report.breaking).toEqual([]);
    expect(report.added).toEqual(['billing.invoice.paid v2']);
  });
});
