// The shell: sign-in, the header, and the screen the hash route names.
import { useEffect, useState } from 'preact/hooks';
import { api, type Auth } from './api.ts';
import { LiveContext, useLiveEvents } from './live.ts';
import { useRoute } from './route.ts';
import { LoginView } from './views/login.tsx';
import { RoomsView } from './views/rooms.tsx';
import { RoomView } from './views/room.tsx';
import { ClientView } from './views/client.tsx';

export function App() {
  const [auth, setAuth] = useState<Auth | null | undefined>(undefined);
  const route = useRoute();
  const live = useLiveEvents(!!auth);
  useEffect(() => {
    api.onSignedOut = () => setAuth(null);
    api.resume().then(setAuth, () => setAuth(null));
  }, []);
  if (auth === undefined) return <p class="page">loading…</p>;
  if (auth === null) return <LoginView onSignedIn={setAuth} />;
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
        {route.view === 'room' && <RoomView id={route.id} />}
        {route.view === 'client' && <ClientView id={route.id} />}
      </main>
    </LiveContext.Provider>
  );
}
