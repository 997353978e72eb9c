// The stream that keeps run status changes (`<stream>_HISTORY`, subjects `<stream>.hist.>`) for
// as long as the events stream keeps events, so a history file deleted or new is rebuilt whole.
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Names } from '../bus/nats/names.js';

const NS = 1_000_000;

export async function ensureHistoryStream(
  jsm: JetStreamManager,
  names: Pick<Names, 'historyStream' | 'historyWildcard'>,
  options: { retentionMs: number; replicas: number },
): Promise<void> {
  const exists = await jsm.streams.info(names.historyStream).then(
    () => true,
    () => false,
  );
  if (exists) return;
  try {
    await jsm.streams.add({
      name: names.historyStream,
      subjects: [names.historyWildcard],
      storage: 'file',
      retention: 'limits',
      max_age: options.retentionMs * NS,
      num_replicas: options.replicas,
      description: 'agentd run status changes, for the admin API history',
    });
  } catch (error) {
    // Another daemon may have made it meanwhile; only then does info() answer now.
    await jsm.streams.info(names.historyStream).catch(() => {
      throw error;
    });
  }
}
