// Leases of the messages a subscription holds but has not handed out (waiting for their key, or
// ready): renewed with +WPI once half the lease is gone, so a deep backlog of waiting messages costs
// one renewal each per half lease. Messages whose lease is gone anyway are dropped from the books.
import type { Held } from './nats-delivery.js';
import type { NatsStore } from './nats-store.js';

export interface LeaseKeeping {
  store: NatsStore;
  now: number;
  leaseMs: number;
  leaseMarginMs: number;
  forget(held: Held): void;
  onError(error: unknown): void;
}

export function renewHeldLeases(all: Iterable<Held>, keeping: LeaseKeeping): void {
  const { store, now, leaseMs } = keeping;
  const snapshot = [...all];
  // A run whose lease ran out without a settle (its worker gave it up) no longer blocks its key.
  for (const held of snapshot)
    if (held.state === 'out' && held.leaseUntil + leaseMs <= now) keeping.forget(held);
  const waiting = snapshot.filter((h) => h.state === 'parked' || h.state === 'ready');
  for (const h of waiting) if (h.leaseUntil <= now) keeping.forget(h);
  const keep = waiting.filter((h) => h.state !== 'gone' && h.leaseUntil - now < leaseMs / 2);
  if (!store.connected || keep.length === 0) return;
  try {
    for (const held of keep) if (held.state !== 'gone') held.msg.working();
  } catch (error) {
    return keeping.onError(error);
  }
  store.nc.flush().then(
    () => {
      const until = now + leaseMs - keeping.leaseMarginMs;
      for (const held of keep) if (held.state !== 'gone') held.leaseUntil = until;
    },
    (error: unknown) => keeping.onError(error),
  );
}
