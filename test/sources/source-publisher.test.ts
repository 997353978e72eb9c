// The publish the daemon hands its sources: shutdown waits for publishes in flight, then refuses.
import { describe, expect, it } from 'vitest';
import type { PublishResult } from '../../src/bus/bus.js';
import { toEvent } from '../../src/core/envelope.js';
import { SourcePublisher, SourcesStoppedError } from '../../src/sources/source-publisher.js';

describe('SourcePublisher', () => {
  it('waits for a publish in flight on drain and refuses publishes after it', async () => {
    let finish: (results: PublishResult[]) => void = () => undefined;
    const publisher = new SourcePublisher(
      () => new Promise<PublishResult[]>((resolve) => (finish = resolve)),
    );
    const event = toEvent({ type: 'a.b', id: 'x' }, { source: 's', trust: 'external' });
    const pending = publisher.publish([event]);
    let drained = false;
    const draining = publisher.drain().then(() => (drained = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(drained).toBe(false);
    finish([{ id: 'x', source: 's', duplicate: false }]);
    await draining;
    expect(await pending).toEqual([{ id: 'x', source: 's', duplicate: false }]);
    await expect(publisher.publish([event])).rejects.toBeInstanceOf(SourcesStoppedError);
  });
});
