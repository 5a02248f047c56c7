import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Node's HTTP parser refuses some requests before Fastify sees them (headers too large, malformed
 * request lines, a request that timed out): they get the same problem+json body as everything else,
 * written straight to the socket, which is then closed.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, detail] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'the request headers (the URL included) exceed the size this server accepts']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'the request was not received in time (HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS)']
        : [400, 'the request is not valid HTTP'];
  const slug = { 400: 'invalid-request', 408: 'request-timeout', 431: 'headers-too-large' }[status];
  const body = JSON.stringify({
    type: `urn:trainyard:problem:${slug}`,
    title: STATUS_CODES[status],
    status,
    detail,
    instance: '(unparsed)',
    errors: [{ in: 'header', field: '(request)', message: detail }],
  });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
