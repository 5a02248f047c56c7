// A bare Fastify server on the same machine, the yardstick of bench/api-throughput.ts:
//   node --import tsx bench/echo-server.ts <port>
// POST /echo answers the body it was sent; GET /echo/:id and GET /echo answer a body of a job's size.
import Fastify from 'fastify';

const port = Number(process.argv[2]);
const app = Fastify({ logger: false, bodyLimit: 1_048_576 });
const job = JSON.parse(process.env.ECHO_BODY ?? '{}') as unknown;
const page = { data: Array.from({ length: 20 }, () => job), hasMore: true, next: '/echo?after=x' };
app.post('/echo', async (request) => request.body);
app.get('/echo/:id', async () => job);
app.get('/echo', async () => page);
await app.listen({ port, host: '127.0.0.1' });
process.send?.('ready');
