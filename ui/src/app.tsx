// The shell: sign-in, the header, and the screen the hash route names.
import { useEffect, useState } from 'preact/hooks';
import { api, type Auth } from './api.ts';
import { LiveContext, useLiveEvents } from './live.ts';
import { useRoute } from './route.ts';
import { setServerZone } from './model.ts';
import { LoginView } from './views/login.tsx';
import { RoomsView } from './views/rooms.tsx';
import { RoomView } from './views/room.tsx';
import { ClientView } from './views/client.tsx';

export const SESSION_ENDED = 'Your session has ended (no activity for a while, the most a session lasts, a new password, or the account or token was removed): sign in again.';

export function App() {
  const [auth, setAuth] = useState<Auth | null | undefined>(undefined);
  // Why the sign-in form is back when the server ended the session (it just reappeared, unexplained).
  const [notice, setNotice] = useState<string | null>(null);
  const route = useRoute();
  const live = useLiveEvents(!!auth);
  useEffect(() => {
    api.onSignedOut = () => {
      setNotice(SESSION_ENDED);
      setAuth(null);
    };
    // The zone first, so the first screen already shows the server's times.
    fetch('/api/v1/health')
      .then((r): Promise<{ timeZone?: string }> | { timeZone?: string } => (r.ok ? r.json() : {}))
      .then((h) => setServerZone(h.timeZone ?? null), () => setServerZone(null))
      .then(() => api.resume())
      .then(setAuth, () => setAuth(null));
  }, []);
  if (auth === undefined) return <p class="page">loading…</p>;
  if (auth === null)
    return (
      <LoginView
        notice={notice}
        onSignedIn={(a) => {
          setNotice(null);
          setAuth(a);
        }}
      />
    );
  const who = auth.kind === 'session' ? `${auth.user.name} (${auth.user.role})` : 'admin token';
  return (
    <LiveContext.Provider value={live}>
      <header class="top">
        <a href="#/rooms" class="brand">
          netimage
        </a>
        <span class={`dot ${live.connected ? 'on' : ''}`} title={live.connected ? 'live updates on' : 'live updates connecting'} />
        <span class="who">{who}</span>
        <button
          class="link"
          onClick={async () => {
            await api.signOut();
            setAuth(null);
          }}
        >
          Sign out
        </button>
      </header>
      <main class="page">
        {route.view === 'rooms' && <RoomsView />}
        {/* Keyed by id: a fresh view per room or PC, so one never shows another's data (and its
            PCs in an action's confirmation) while it loads, or when it does not exist. */}
        {route.view === 'room' && <RoomView key={route.id} id={route.id} />}
        {route.view === 'client' && <ClientView key={route.id} id={route.id} />}
      </main>
    </LiveContext.Provider>
  );
}
