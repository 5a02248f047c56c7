// The event bench's other subscribers, in a process of their own so that the observer's receipt
// times are not held up by this process reading a thousand sockets (on a real deployment the
// audience is on other machines). The parent sends {url, headers, count}; this answers
// {opened: true} once every socket is open and {feeds: SeqFeed[]} once every socket has closed.
import { once } from 'node:events';
import WebSocket from 'ws';
import { SeqFeed } from './seq-feed.js';

interface Order {
  url: string;
  headers: Record<string, string>;
  count: number;
}

const [order] = (await once(process, 'message')) as [Order];
const sockets = Array.from({ length: order.count }, () => new WebSocket(order.url, { headers: order.headers }));
const closed = sockets.map(
  (socket) =>
    new Promise<SeqFeed>((resolve, reject) => {
      const feed = new SeqFeed();
      // Only the order of seqs is checked, as cheaply as a client could.
      socket.on('message', (raw) => {
        const text = raw.toString();
        const seq = /"seq":(\d+)/.exec(text);
        if (seq && text.startsWith('{"kind":"event"')) feed.push(Number(seq[1]));
      });
      socket.on('close', () => resolve(feed));
      socket.on('error', reject);
    }),
);
await Promise.all(sockets.map((socket) => once(socket, 'open')));
const send = (message: object) => new Promise<void>((resolve, reject) => process.send!(message, undefined, {}, (error) => (error ? reject(error) : resolve())));
await send({ opened: true });
// Disconnecting before the send's callback would drop the message.
await send({ feeds: (await Promise.all(closed)).map((feed) => feed.summary()) });
process.disconnect();
