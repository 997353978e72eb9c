// The global concurrency (worker.concurrency) shared by every route's claim loop. Slots are taken
// before a claim and given back when a run settles. When they are scarce, waiting routes are
// served by priority (higher first), routes with work before idle ones, then first come first
// served. An idle route's long poll (waiting for work to arrive) never keeps a slot from a route
// that has work: it is asked to give the slot back, or, granted one while such routes wait, only
// looks once instead of waiting. A higher-priority idle route so still looks for work between the
// runs of lower ones, and runs first when it finds some.

export interface SlotRequest {
  priority: number;
  /** Slots wanted; at least one is granted unless `signal` aborts first. */
  max: number;
  /**
   * An idle route waiting for work: it gets one slot for its long poll, and gives it back early
   * (its grant's `preempted` signal aborts) when a route with work asks for one.
   */
  idle: boolean;
  signal: AbortSignal;
}

export interface SlotGrant {
  /** Slots taken: 0 only when the request's signal aborted. Give them back with release(). */
  count: number;
  /** On an idle grant: aborts when a busier route wants the slot. */
  preempted?: AbortSignal;
  /** On an idle grant: routes with work were waiting too, so look for work once, do not wait. */
  contended: boolean;
  /** Ends an idle grant's poll (the slot itself goes back with release()). */
  finish(): void;
}

interface Waiter {
  request: SlotRequest;
  order: number;
  grant(grant: SlotGrant): void;
}

interface IdleHolder {
  priority: number;
  controller: AbortController;
}

const NONE: SlotGrant = { count: 0, contended: false, finish: () => undefined };

export class GlobalSlots {
  private free: number;
  private waiters: Waiter[] = [];
  private readonly idle = new Set<IdleHolder>();
  private counter = 0;

  constructor(readonly capacity: number) {
    this.free = capacity;
  }

  /** Slots not taken right now. */
  get available(): number {
    return this.free;
  }

  /** Claim loops waiting for a slot. */
  get waiting(): number {
    return this.waiters.length;
  }

  acquire(request: SlotRequest): Promise<SlotGrant> {
    if (request.signal.aborted) return Promise.resolve(NONE);
    if (this.free > 0) return Promise.resolve(this.take(request));
    return new Promise<SlotGrant>((resolve) => {
      const waiter: Waiter = {
        request,
        order: this.counter++,
        grant: (grant) => {
          request.signal.removeEventListener('abort', onAbort);
          resolve(grant);
        },
      };
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(NONE);
      };
      request.signal.addEventListener('abort', onAbort, { once: true });
      this.enqueue(waiter);
      if (!request.idle) this.preemptIdle();
    });
  }

  /** Gives back `n` slots; the best waiters get them at once. */
  release(n: number): void {
    if (n <= 0) return;
    this.free = Math.min(this.capacity, this.free + n);
    while (this.free > 0) {
      const next = this.waiters.shift();
      if (next === undefined) break;
      next.grant(this.take(next.request));
    }
  }

  private take(request: SlotRequest): SlotGrant {
    const count = request.idle ? 1 : Math.max(1, Math.min(request.max, this.free));
    this.free -= count;
    if (!request.idle) return { count, contended: false, finish: () => undefined };
    const holder: IdleHolder = { priority: request.priority, controller: new AbortController() };
    this.idle.add(holder);
    return {
      count,
      preempted: holder.controller.signal,
      contended: this.waiters.some((w) => !w.request.idle),
      finish: () => this.idle.delete(holder),
    };
  }

  /** Asks the idle poll of the lowest priority to give its slot back. */
  private preemptIdle(): void {
    let victim: IdleHolder | undefined;
    for (const holder of this.idle)
      if (victim === undefined || holder.priority < victim.priority) victim = holder;
    if (victim === undefined) return;
    this.idle.delete(victim);
    victim.controller.abort();
  }

  /** Priority first, then routes with work before idle ones, then arrival. */
  private enqueue(waiter: Waiter): void {
    const before = (a: Waiter, b: Waiter) =>
      a.request.priority !== b.request.priority
        ? a.request.priority > b.request.priority
        : a.request.idle !== b.request.idle
          ? !a.request.idle
          : a.order < b.order;
    const at = this.waiters.findIndex((w) => before(waiter, w));
    if (at === -1) this.waiters.push(waiter);
    else this.waiters.splice(at, 0, waiter);
  }
}
