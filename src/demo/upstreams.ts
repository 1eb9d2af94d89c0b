/**
 * demo/upstreams — tiny stand-in app servers for `npm start --demo-upstreams`,
 * so a fresh clone shows blue/green switching without any other server.
 *
 * Each answers `GET /healthz` with `ok` and everything else with a line naming
 * itself (`hello from blue-1 (127.0.0.1:9001)`), plus headers that make the
 * routing visible with `curl -i`: `x-demo-server` and `x-demo-saw-pool` (the
 * `x-switchyard-pool` header the proxy sent). Not for production traffic.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** DemoUpstreamSpec — where one demo server listens and which pool it plays. */
export interface DemoUpstreamSpec {
  readonly pool: string;
  readonly id: string;
  readonly host: string;
  readonly port: number;
}

/** DemoUpstreamInfo — a started demo server: its `<pool>-<n>` name and the port it really bound (port 0 → ephemeral). */
export interface DemoUpstreamInfo {
  readonly pool: string;
  readonly id: string;
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

/** DemoUpstreams — the running demo servers. */
export interface DemoUpstreams {
  readonly servers: readonly DemoUpstreamInfo[];
  close(): Promise<void>;
}

/** DemoLogger — the slice of a pino logger the demo needs. */
export interface DemoLogger {
  info(obj: object, msg: string): void;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      const why = err.code === 'EADDRINUSE' ? 'is already in use' : `cannot be bound (${err.message})`;
      reject(new Error(`demo upstream: ${hostPort(host, port)} ${why}`, { cause: err }));
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

/** startDemoUpstreams — starts one demo HTTP server per entry; rejects naming the address if one cannot bind (none are left running). */
export async function startDemoUpstreams(
  servers: readonly DemoUpstreamSpec[],
  log?: DemoLogger,
): Promise<DemoUpstreams> {
  const started: Server[] = [];
  const infos: DemoUpstreamInfo[] = [];
  const perPool = new Map<string, number>();
  const closeAll = async (): Promise<void> => {
    await Promise.all(started.map(closeServer));
  };

  try {
    for (const spec of servers) {
      const n = (perPool.get(spec.pool) ?? 0) + 1;
      perPool.set(spec.pool, n);
      const name = `${spec.pool}-${n}`;
      // The greeting needs the bound port, known only after listen().
      let greeting = '';
      const server = createServer((req: IncomingMessage, res: ServerResponse) => {
        // Read (and discard) any request body before answering, so a POST
        // through the proxy completes instead of being cut off.
        req.resume();
        req.on('end', () => {
          if ((req.method === 'GET' || req.method === 'HEAD') && req.url?.split('?', 1)[0] === '/healthz') {
            res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
            return;
          }
          const headers: Record<string, string> = { 'content-type': 'text/plain', 'x-demo-server': name };
          const saw = req.headers['x-switchyard-pool'];
          if (typeof saw === 'string') headers['x-demo-saw-pool'] = saw;
          res.writeHead(200, headers).end(greeting);
        });
      });
      started.push(server);
      const port = await listen(server, spec.host, spec.port);
      greeting = `hello from ${name} (${spec.host}:${port})\n`;
      infos.push({ pool: spec.pool, id: spec.id, name, host: spec.host, port });
      log?.info({ pool: spec.pool, server: spec.id, name, address: hostPort(spec.host, port) }, 'demo upstream listening');
    }
  } catch (err) {
    await closeAll();
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    servers: infos,
    close: () => (closing ??= closeAll()),
  };
}
