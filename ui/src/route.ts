// Hash routes (#/rooms, #/room/<id>, #/client/<id>): the server serves only /, so a reload or a
// bookmark of any screen works without server-side routes.
import { useEffect, useState } from 'preact/hooks';

export type Route = { view: 'rooms' } | { view: 'room'; id: string } | { view: 'client'; id: string };

export function parseRoute(hash: string): Route {
  const [, view, id] = /^#\/(room|client)\/(.+)$/.exec(hash) ?? [];
  if ((view === 'room' || view === 'client') && id) return { view, id: decodeURIComponent(id) };
  return { view: 'rooms' };
}

export const href = (r: Route) => (r.view === 'rooms' ? '#/rooms' : `#/${r.view}/${encodeURIComponent(r.id)}`);

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const changed = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
}
