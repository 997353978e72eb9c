// Lanes across dispatchers: actions sharing a lane (one GitHub comment, one check run) are never in
// flight together, whichever process sends them. A lane is a lock entry in the state bucket naming
// the action sending in it and until when; an expired lock is free (its dispatcher died).
import { createHash } from 'node:crypto';
import type { KvBucket } from './kv-bucket.js';

interface LaneHolder {
  id: string;
  until: number;
}

export class LaneLocks {
  constructor(private readonly state: KvBucket) {}

  /** Takes the lane for action `id` until `until`; false while another action holds it. */
  async acquire(lane: string, id: string, until: number, now: number): Promise<boolean> {
    const key = laneKey(lane);
    const found = await this.state.get<LaneHolder>(key);
    if (found === undefined) return (await this.state.create(key, { id, until })) > 0;
    if (found.value.id !== id && found.value.until > now) return false;
    return (await this.state.swap(key, { id, until }, found.revision)) > 0;
  }

  /** Frees the lane if action `id` still holds it. */
  async release(lane: string, id: string): Promise<void> {
    const key = laneKey(lane);
    const found = await this.state.get<LaneHolder>(key);
    if (found !== undefined && found.value.id === id)
      await this.state.deleteAt(key, found.revision);
  }
}

function laneKey(lane: string): string {
  return `lane.${createHash('sha256').update(lane).digest('hex').slice(0, 32)}`;
}
