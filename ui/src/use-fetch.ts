// Loads something from the API, again whenever `key` changes or `reload()` is called; the last
// value stays on screen while a reload is in flight, so live refreshes do not flicker.
import { useCallback, useEffect, useState } from 'react';

export interface Fetched<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

export function useFetch<T>(key: string, load: () => Promise<T>): Fetched<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const [loadedKey, setLoadedKey] = useState(key);

  useEffect(() => {
    let live = true;
    setLoading(true);
    load().then(
      (value) => {
        if (!live) return;
        setData(value);
        setError(undefined);
        setLoading(false);
        setLoadedKey(key);
      },
      (e: unknown) => {
        if (!live) return;
        setError(e);
        setLoading(false);
        setLoadedKey(key);
      },
    );
    return () => {
      live = false;
    };
    // `load` is a fresh closure each render; `key` says when it means something else.
  }, [key, tick]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  // Data of another key is not shown as this key's.
  return { data: loadedKey === key ? data : undefined, error, loading, reload };
}
