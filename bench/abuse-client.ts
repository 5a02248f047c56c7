// One abusive client, run as its own process by bench/abuse.ts until it is killed:
//   node --import tsx bench/abuse-client.ts <wide-csv|huge-errors|slow-sockets|key-guessing> <base url> <API key>
import http from 'node:http';
import net from 'node:net';

const [kind, baseUrl, key] = process.argv.slice(2) as [string, string, string];
const { hostname, port } = new URL(baseUrl);
// Another address than the well-behaved client's: limits per client address must tell them apart.
const localAddress = '127.0.0.2';

function send(method: string, path: string, headers: Record<string, string>, body?: string | Buffer): Promise<number> {
  return new Promise((resolve) => {
    const request = http.request({ host: hostname, port, localAddress, method, path, headers }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', () => resolve(0));
    request.end(body);
  });
}

async function loop(concurrency: number, once: () => Promise<unknown>): Promise<never> {
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (;;) await once();
  }));
  throw new Error('unreachable');
}

const auth = { authorization: `Bearer ${key}` };

switch (kind) {
  case 'wide-csv': {
    // 100 000 columns, 1.3 MB: the upload that froze the API for 16–21 s.
    const columns = Array.from({ length: 100_000 }, (_, i) => `c${i}`);
    const body = Buffer.from(`${columns.join(',')},label\n${columns.map(() => '1').join(',')},x\n`);
    await loop(2, () => send('POST', '/v1/datasets?name=wide', { ...auth, 'content-type': 'text/csv' }, body));
    break;
  }
  case 'huge-errors': {
    // 440 KB of unknown keys: once a 5.6 MB error body; 20 at once took a cheap GET to 4.9 s.
    const spec: Record<string, unknown> = { dataset: { name: 'iris' }, model: { layers: [{ type: 'dense', units: 3 }] } };
    for (let i = 0; i < 30_000; i++) spec[`unknown_${i}`] = i;
    const body = JSON.stringify(spec);
    await loop(20, () => send('POST', '/v1/jobs', { ...auth, 'content-type': 'application/json' }, body));
    break;
  }
  case 'slow-sockets': {
    // Connections that trickle their headers, 200 at a time, replaced as the server cuts them off.
    const open = () =>
      new Promise<void>((resolve) => {
        const socket = net.connect({ port: Number(port), host: hostname, localAddress }, () => socket.write('GET /v1/jobs HTTP/1.1\r\nHost: x\r\n'));
        const trickle = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 1_000);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          clearInterval(trickle);
          resolve();
        });
      });
    await loop(200, open);
    break;
  }
  case 'key-guessing': {
    let n = 0;
    await loop(8, () => send('GET', '/v1/jobs', { authorization: `Bearer ty_guess_${n++}` }));
    break;
  }
  default:
    throw new Error(`unknown abuse ${kind}`);
}
