// Hash routing (#/events/<id>?...): agentd serves one index.html at /ui, the browser does the rest.
import { useEffect, useState } from 'react';

export interface Location {
  /** Path segments after '#/', e.g. ['events', '0190…']. */
  parts: string[];
  params: URLSearchParams;
}

function current(): Location {
  const hash = window.location.hash.replace(/^#\/?/, '');
  const [path = '', search = ''] = hash.split('?');
  return {
    parts: path
      .split('/')
      .filter((p) => p !== '')
      .map(decodeURIComponent),
    params: new URLSearchParams(search),
  };
}

export function useLocation(): Location {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    const update = () => setLocation(current());
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return location;
}

export function href(path: string, params: Record<string, string | undefined> = {}): string {
  const search = new URLSearchParams(
    Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''),
  ).toString();
  return `#/${path}${search === '' ? '' : `?${search}`}`;
}

export function navigate(path: string, params: Record<string, string | undefined> = {}): void {
  window.location.hash = href(path, params);
}
