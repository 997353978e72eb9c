// The dashboard's frame: sign-in, navigation, search, the live connection and page routing.
import { useEffect, useMemo, useState } from 'react';
import {
  api,
  ApiError,
  followStream,
  storedToken,
  storeToken,
  takeTokenFromUrl,
  whenUnauthorized,
  type Whoami,
} from './api';
import { LiveContext, LiveHub } from './live';
import { DlqPage } from './pages/dlq';
import { EventPage } from './pages/event';
import { EventsPage } from './pages/events';
import { LoginPage } from './pages/login';
import { OutboxPage } from './pages/outbox';
import { RoutesPage } from './pages/routes';
import { RunPage } from './pages/run';
import { RunsPage } from './pages/runs';
import { navigate, useLocation, type Location } from './router';

export function App() {
  const [token, setToken] = useState(storedToken);
  const [reason, setReason] = useState<string | undefined>(undefined);
  const [session, setSession] = useState<Whoami | undefined>(undefined);
  const [connected, setConnected] = useState(false);
  const hub = useMemo(() => new LiveHub(), []);
  const location = useLocation();

  // A sign-in link opened in a tab that already shows the dashboard changes only the fragment.
  useEffect(() => {
    const onHash = () => {
      if (!window.location.hash.startsWith('#token=')) return;
      takeTokenFromUrl();
      setReason(undefined);
      setToken(storedToken());
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  useEffect(() => {
    whenUnauthorized(() => {
      storeToken(null);
      setToken(null);
      setSession(undefined);
      setReason('That token was not accepted: sign in again.');
    });
  }, []);

  useEffect(() => {
    if (token === null) return;
    let live = true;
    api.get<Whoami>('/whoami').then(
      (s) => live && setSession(s),
      (error: unknown) => {
        if (live && !(error instanceof ApiError && error.status === 401))
          setReason(error instanceof Error ? error.message : String(error));
      },
    );
    const stop = new AbortController();
    void followStream(
      {
        onEvents: (events, skipped) => hub.events(events, skipped),
        onRuns: (changes) => hub.runs(changes),
        onState: setConnected,
      },
      stop.signal,
    );
    return () => {
      live = false;
      stop.abort();
    };
  }, [token, hub]);

  if (token === null)
    return (
      <LoginPage
        reason={reason}
        onToken={(t) => {
          storeToken(t);
          setReason(undefined);
          setToken(t);
        }}
      />
    );

  const section = location.parts[0] ?? 'events';
  return (
    <LiveContext.Provider value={hub}>
      <div className="frame">
        <nav className="top">
          <a className="brand" href="#/">
            agentd
          </a>
          {(['events', 'runs', 'dlq', 'outbox', 'routes'] as const).map((name) => (
            <a key={name} href={`#/${name}`} className={section === name ? 'active' : ''}>
              {name === 'dlq' ? 'Dead letters' : name[0]?.toUpperCase() + name.slice(1)}
            </a>
          ))}
          <SearchBox />
          <span
            className={`live-dot ${connected ? 'on' : 'off'}`}
            title={connected ? 'live' : 'reconnecting'}
          >
            {connected ? 'live' : 'offline'}
          </span>
          <span className="muted who">
            {session === undefined
              ? ''
              : `${session.node} · ${session.scope === 'read' ? 'read-only' : 'admin'}`}
          </span>
          <button
            className="link"
            onClick={() => {
              storeToken(null);
              setToken(null);
              setSession(undefined);
            }}
          >
            sign out
          </button>
        </nav>
        <main>
          <Page location={location} canWrite={session?.scope !== 'read'} />
        </main>
      </div>
    </LiveContext.Provider>
  );
}

function Page({ location, canWrite }: { location: Location; canWrite: boolean }) {
  const [section = 'events', id] = location.parts;
  if (section === 'events' && id !== undefined) return <EventPage key={id} id={id} />;
  if (section === 'runs' && id !== undefined)
    return <RunPage key={id} id={id} canWrite={canWrite} />;
  if (section === 'runs') return <RunsPage location={location} />;
  if (section === 'dlq') return <DlqPage location={location} canWrite={canWrite} />;
  if (section === 'outbox') return <OutboxPage location={location} canWrite={canWrite} />;
  if (section === 'routes') return <RoutesPage />;
  if (section === 'search' && id !== undefined) return <Search text={id} />;
  return <EventsPage location={location} />;
}

function SearchBox() {
  const [text, setText] = useState('');
  return (
    <form
      className="search"
      onSubmit={(e) => {
        e.preventDefault();
        if (text.trim() === '') return;
        navigate(`search/${encodeURIComponent(text.trim())}`);
        setText('');
      }}
    >
      <input
        aria-label="search"
        placeholder="Search by event id, type or key"
        value={text}
        onChange={(e) => setText(e.target.value)}
      />
    </form>
  );
}

/** An exact event id opens the event; anything else lists events of that type or key. */
function Search({ text }: { text: string }) {
  useEffect(() => {
    if (text.includes('*')) return navigate('events', { type: text });
    api.get(`/events/${encodeURIComponent(text)}`).then(
      () => navigate(`events/${encodeURIComponent(text)}`),
      () => navigate('events', { q: text }),
    );
  }, [text]);
  return <div className="loading">Searching for {text}…</div>;
}
