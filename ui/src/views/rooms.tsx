// Every room with its PCs; PCs in no room come last.
import { pcs } from '../model.ts';
import { href } from '../route.ts';
import { ErrorBox } from '../widgets.tsx';
import { Grid } from './grid.tsx';
import { useRoomData } from './room-data.ts';

export function RoomsView() {
  const { data, error } = useRoomData(null);
  if (!data) return error ? <ErrorBox error={error} /> : <p>loading…</p>;
  const rooms = [...data.groups.map((g) => ({ id: g.id as string | null, description: g.description })), { id: null, description: '' }];
  return (
    <>
      <ErrorBox error={error} />
      <h1>Rooms</h1>
      {data.groups.length === 0 && <p class="muted">No rooms yet: netimage group add room101, then import its PCs.</p>}
      {rooms.map((room) => {
        const clients = data.clients.filter((c) => c.group === room.id);
        if (room.id === null && clients.length === 0) return null;
        return (
          <section class="room" key={room.id ?? ''} data-room={room.id ?? ''}>
            <h2>
              {room.id ? <a href={href({ view: 'room', id: room.id })}>{room.id}</a> : 'Not in a room'} <span class="muted small">{pcs(clients.length)}</span>
            </h2>
            {room.description && <p class="muted">{room.description}</p>}
            <Grid clients={clients} jobs={data.jobs} states={data.states} />
          </section>
        );
      })}
    </>
  );
}
