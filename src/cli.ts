#!/usr/bin/env node
/**
 * cli — `switchyard start|validate|status|switch|rollback`. argv → config →
 * app → start; signals → stop(). The only place that calls process.exit.
 *
 * Exit codes: 0 success; 1 runtime failure (cannot listen, admin API refused);
 * 2 bad input (config errors, unknown command or flag).
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile } from './config/load.js';
import type { SwitchyardConfig } from './config/types.js';
import { createApp, type App } from './app.js';
import { createLogger, flushLogs } from './log.js';
import { startDemoUpstreams, type DemoUpstreams } from './demo/upstreams.js';
import { ClusterPrimary } from './cluster/primary.js';

const USAGE = `usage:
  switchyard start    --config FILE [--demo-upstreams]
  switchyard validate --config FILE
  switchyard status   [--admin-url URL] [--token TOKEN] [--config FILE]
  switchyard switch POOL [--force] [--wait] [--admin-url URL] [--token TOKEN] [--config FILE]
  switchyard rollback    [--force] [--wait] [--admin-url URL] [--token TOKEN] [--config FILE]

The admin address and token come from --admin-url/--token, else from
SWITCHYARD_ADMIN_URL/SWITCHYARD_ADMIN_TOKEN, else from --config's listen.admin
and admin.token, else http://127.0.0.1:9901.`;

class UsageError extends Error {}

function fail(code: number, message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

function loadOrExit(file: string | undefined): SwitchyardConfig {
  if (file === undefined) throw new UsageError('--config FILE is required');
  try {
    return loadConfigFile(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      fail(2, `switchyard: invalid config ${file}:\n${err.issues.map((i) => `  ${i.path || '(file)'}: ${i.message}`).join('\n')}`);
    }
    throw err;
  }
}

async function start(configFile: string | undefined, demo: boolean): Promise<void> {
  const config = loadOrExit(configFile);
  const log = createLogger(config.log.level);
  let demoServers: DemoUpstreams | undefined;
  let app: App | undefined;
  let signals = 0;
  // Installed before anything starts, so a SIGTERM during start-up still stops gracefully.
  const shutdown = (signal: string): void => {
    signals++;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    log.info({ signal }, 'signal received');
    void (async () => {
      try {
        await starting;
        await app?.stop();
        await demoServers?.close();
        await flushLogs(log);
        process.exit(0);
      } catch (err) {
        process.stderr.write(`switchyard: error during shutdown: ${(err as Error).message}\n`);
        process.exit(1);
      }
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // SIGHUP re-reads the TLS certificate files (certbot-style renewals); a bad file is logged and the old certificates stay.
  process.on('SIGHUP', () => {
    // A refusal is already logged by reloadCerts with the file that failed.
    app?.reloadCerts().catch(() => undefined);
  });
  const starting = (async () => {
    if (demo) {
      demoServers = await startDemoUpstreams(
        config.pools.flatMap((p) => p.servers.map((s) => ({ pool: p.name, id: s.id, host: s.host, port: s.port }))),
        log.child({ component: 'demo' }),
      ).catch((err: Error) => fail(1, `switchyard: cannot start demo upstreams: ${err.message}`));
    }
    // workers > 1: this process becomes the primary (admin, state, health checks) of N proxy workers.
    app = await createApp(
      config,
      config.workers > 1 ? { log, role: 'primary', dataPlane: (parts) => new ClusterPrimary(parts, config.workers) } : { log },
    );
    try {
      await app.start();
    } catch (err) {
      log.error({ err }, 'start failed');
      await app.stop().catch(() => undefined);
      await demoServers?.close();
      await flushLogs(log);
      fail(1, `switchyard: ${(err as Error).message}`);
    }
  })();
  await starting;
}

interface AdminTarget {
  readonly url: string;
  readonly token: string | undefined;
}

function adminTarget(values: { 'admin-url'?: string; token?: string; config?: string }): AdminTarget {
  let url = values['admin-url'] ?? process.env.SWITCHYARD_ADMIN_URL;
  let token = values.token ?? process.env.SWITCHYARD_ADMIN_TOKEN;
  if ((url === undefined || token === undefined) && values.config !== undefined) {
    const config = loadOrExit(values.config);
    const a = config.listen.admin;
    url ??= `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
    token ??= config.admin.token;
  }
  return { url: (url ?? 'http://127.0.0.1:9901').replace(/\/+$/, ''), token: token === '' ? undefined : token };
}

async function callAdmin(target: AdminTarget, method: string, path: string, body?: unknown): Promise<void> {
  const headers: Record<string, string> = { 'x-switchyard-actor': `cli:${process.env.USER ?? 'unknown'}` };
  if (target.token !== undefined) headers.authorization = `Bearer ${target.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${target.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    fail(1, `switchyard: cannot reach the admin API at ${target.url}: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`);
  }
  const text = await res.text();
  let pretty = text;
  try {
    pretty = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    // not JSON: print as is
  }
  if (!res.ok) fail(1, `switchyard: ${method} ${path} → ${res.status}\n${pretty}`);
  process.stdout.write(`${pretty}\n`);
}

async function main(argv: readonly string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      'demo-upstreams': { type: 'boolean', default: false },
      'admin-url': { type: 'string' },
      token: { type: 'string' },
      force: { type: 'boolean', default: false },
      wait: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (command === undefined) throw new UsageError('a command is required');
  const extra = (n: number): void => {
    if (rest.length !== n) throw new UsageError(`${command}: expected ${n} argument(s), got ${rest.length}`);
  };
  switch (command) {
    case 'start':
      extra(0);
      return start(values.config, values['demo-upstreams'] === true);
    case 'validate': {
      extra(0);
      const config = loadOrExit(values.config);
      process.stdout.write(`${config.source}: ok (${config.pools.length} pools, ${config.pools.reduce((n, p) => n + p.servers.length, 0)} servers, live: ${config.live})\n`);
      return;
    }
    case 'status':
      extra(0);
      return callAdmin(adminTarget(values), 'GET', '/api/v1/state');
    case 'switch':
      extra(1);
      return callAdmin(adminTarget(values), 'POST', '/api/v1/switch', {
        to: rest[0],
        ...(values.force ? { force: true } : {}),
        ...(values.wait ? { wait: 'drained' } : {}),
      });
    case 'rollback':
      extra(0);
      return callAdmin(adminTarget(values), 'POST', '/api/v1/rollback', {
        ...(values.force ? { force: true } : {}),
        ...(values.wait ? { wait: 'drained' } : {}),
      });
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
    fail(2, `switchyard: ${(err as Error).message}\n\n${USAGE}`);
  }
  fail(1, `switchyard: ${(err as Error).message}`);
});
