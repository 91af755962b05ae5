// One room: its actions and its PCs.
import { pcs } from '../model.ts';
import { href } from '../route.ts';
import { ErrorBox } from '../widgets.tsx';
import { ActionBar } from './actions.tsx';
import { Grid } from './grid.tsx';
import { useRoomData } from './room-data.ts';

export function RoomView({ id }: { id: string }) {
  const { data, error, reload } = useRoomData(id);
  if (!data) return error ? <ErrorBox error={error} /> : <p>loading…</p>;
  const room = data.groups.find((g) => g.id === id);
  // A bookmark or typed URL of a room that was removed or misspelt: say so, offer no actions.
  if (!room)
    return (
      <>
        <nav class="crumbs">
          <a href={href({ view: 'rooms' })}>Rooms</a> › {id}
        </nav>
        <ErrorBox error={error ?? `There is no room ${id} (removed or misspelt): pick one under Rooms.`} />
      </>
    );
  return (
    <>
      <nav class="crumbs">
        <a href={href({ view: 'rooms' })}>Rooms</a> › {id}
      </nav>
      <h1>
        {id} <span class="muted small">{pcs(data.clients.length)}</span>
      </h1>
      {room?.description && <p class="muted">{room.description}</p>}
      <ErrorBox error={error} />
      {data.clients.length > 0 && <ActionBar target={{ kind: 'group', id, clients: data.clients.map((c) => c.id) }} products={data.products} onChanged={reload} />}
      <Grid clients={data.clients} jobs={data.jobs} states={data.states} />
    </>
  );
}
