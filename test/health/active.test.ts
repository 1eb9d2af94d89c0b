import diagnosticsChannel from 'node:diagnostics_channel';
import { pino } from 'pino';
import t from 'tap';
import type { HealthConfig } from '../../src/config/types.js';
import { ActiveHealthChecker } from '../../src/health/active.js';
import type { HealthLogger } from '../../src/health/active.js';
import { HEALTH_FLIP_CHANNEL } from '../../src/health/events.js';
import type { HealthFlipEvent } from '../../src/health/events.js';
import { probeHttp } from '../../src/health/probe-http.js';
import type { Probe, ProbeResult, ProbeTarget } from '../../src/health/probe-http.js';
import type { HealthTarget } from '../../src/health/types.js';
import { connections, healthConfig, listen, until } from './fixtures/helpers.js';

interface Call {
  readonly healthy: boolean;
  readonly reason: string;
  /** Probe verdicts seen up to the moment of the call, in order. */
  readonly verdicts: readonly boolean[];
}

/** A HealthTarget that records setHealthy calls. */
function recordingTarget(
  port: number,
  health: HealthConfig,
  verdicts: readonly boolean[] = [],
  id = 'a',
): HealthTarget & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    pool: 'blue',
    id,
    host: '127.0.0.1',
    port,
    health,
    calls,
    setHealthy(healthy, reason) {
      calls.push({ healthy, reason, verdicts: [...verdicts] });
    },
  };
}

/** Wraps a probe and records each verdict. */
function countingProbe(inner: Probe = probeHttp): { probe: Probe; verdicts: boolean[]; targets: ProbeTarget[] } {
  const verdicts: boolean[] = [];
  const targets: ProbeTarget[] = [];
  const probe: Probe = async (target, signal) => {
    targets.push(target);
    const result = await inner(target, signal);
    if (signal?.aborted !== true) verdicts.push(result.ok);
    return result;
  };
  return { probe, verdicts, targets };
}

/** A probe that plays a script of verdicts, then waits for abort. */
function scriptedProbe(script: readonly boolean[]): { probe: Probe; calls: () => number } {
  let calls = 0;
  const probe: Probe = (_target, signal) => {
    const ok = script[calls];
    calls += 1;
    if (ok !== undefined) return Promise.resolve({ ok, reason: ok ? 'status 200' : 'status 503 not in 200-399', durationMs: 1 });
    return new Promise<ProbeResult>((resolve) => {
      signal?.addEventListener('abort', () => resolve({ ok: false, reason: 'aborted', durationMs: 0 }), { once: true });
    });
  };
  return { probe, calls: () => calls };
}

/** Trailing run of equal verdicts. */
function trailing(verdicts: readonly boolean[], ok: boolean): number {
  let n = 0;
  for (let i = verdicts.length - 1; i >= 0 && verdicts[i] === ok; i--) n++;
  return n;
}

t.test('marks a server down when it starts returning 503 and up again after rise successes', async (t) => {
  let status = 200;
  const { port } = await listen(t, (_req, res) => {
    res.statusCode = status;
    res.end();
  });
  const { probe, verdicts } = countingProbe();
  const target = recordingTarget(port, healthConfig({ rise: 3, fall: 2 }), verdicts);
  const checker = new ActiveHealthChecker([target], { probe });
  t.teardown(() => checker.stop());

  t.equal(checker.status('blue', 'a'), 'unknown', 'unknown before the first probe');
  checker.start();
  await checker.ready();
  t.equal(checker.status('blue', 'a'), 'up');
  t.equal(target.calls.length, 1, 'the first verdict is reported');
  t.equal(target.calls[0]?.healthy, true);
  t.match(target.calls[0]?.reason, /^first probe: status 200/);

  status = 503;
  await until(() => target.calls.length === 2, 'down flip');
  const down = target.calls[1];
  t.equal(down?.healthy, false);
  t.match(down?.reason, /status 503 not in 200-399 \(2 consecutive failures\)/);
  t.equal(trailing(down?.verdicts ?? [], false), 2, 'flipped on exactly `fall` failures');
  t.equal(checker.status('blue', 'a'), 'down');

  status = 200;
  await until(() => target.calls.length === 3, 'up flip');
  const up = target.calls[2];
  t.equal(up?.healthy, true);
  t.match(up?.reason, /status 200 \(3 consecutive successes\)/);
  t.equal(trailing(up?.verdicts ?? [], true), 3, 'flipped on exactly `rise` successes');
  t.equal(checker.status('blue', 'a'), 'up');

  // Steady state: more probes, no more calls.
  const probed = verdicts.length;
  await until(() => verdicts.length >= probed + 5, 'five more probes');
  t.equal(target.calls.length, 3, 'setHealthy is called only on flips');
});

t.test('marks a server down at once when its very first probe fails', async (t) => {
  const { port } = await listen(t, (_req, res) => {
    res.statusCode = 503;
    res.end();
  });
  const target = recordingTarget(port, healthConfig({ fall: 5 }));
  const checker = new ActiveHealthChecker([target]);
  t.teardown(() => checker.stop());
  checker.start();
  await checker.ready();
  t.equal(checker.status('blue', 'a'), 'down');
  t.same(
    target.calls.map((c) => c.healthy),
    [false],
  );
  t.match(target.calls[0]?.reason, /^first probe: status 503/);
});

t.test('stop() aborts an in-flight probe, ends every loop and reports nothing for the aborted probe', async (t) => {
  let requests = 0;
  const { server, port } = await listen(t, () => {
    requests += 1; // never answers
  });
  const target = recordingTarget(port, healthConfig({ timeoutMs: 10_000 }));
  const checker = new ActiveHealthChecker([target]);
  checker.start();
  await until(() => requests === 1, 'probe reached the server');

  const started = performance.now();
  await checker.stop();
  t.ok(performance.now() - started < 1000, 'stop() does not wait for the probe timeout');
  await checker.ready(); // released by stop(), not left hanging
  t.equal(target.calls.length, 0, 'an aborted probe is not a verdict');
  t.equal(checker.status('blue', 'a'), 'unknown');
  t.equal(checker.isReady, false);
  await until(async () => (await connections(server)) === 0, 'probe connection closed');
  t.equal(requests, 1, 'no probe after stop()');
  await checker.stop(); // idempotent
});

t.test('stop() cancels the wait between probes', async (t) => {
  const { probe, calls } = scriptedProbe([true, true, true]);
  const checker = new ActiveHealthChecker([recordingTarget(1, healthConfig({ intervalMs: 60_000 }))], { probe });
  checker.start();
  await checker.ready();
  const started = performance.now();
  await checker.stop();
  t.ok(performance.now() - started < 1000, 'stop() does not wait out the interval');
  t.equal(calls(), 1);
});

t.test('probes only targets with health checks enabled', async (t) => {
  const { probe, targets } = countingProbe(scriptedProbe(new Array<boolean>(1000).fill(true)).probe);
  const on = recordingTarget(1, healthConfig(), [], 'on');
  const off = recordingTarget(2, healthConfig({ enabled: false }), [], 'off');
  const checker = new ActiveHealthChecker([on, off], { probe });
  t.teardown(() => checker.stop());
  checker.start();
  await checker.ready();
  await until(() => targets.length >= 3, 'a few probes');
  await checker.stop();
  t.ok(targets.every((p) => p === on), 'only the enabled target was probed');
  t.equal(checker.status('blue', 'off'), 'unknown');
  t.equal(off.calls.length, 0);
});

t.test('ready() resolves at once when nothing is actively checked', async (t) => {
  const checker = new ActiveHealthChecker([recordingTarget(1, healthConfig({ enabled: false }))]);
  t.equal(checker.isReady, true);
  await checker.ready();
  t.equal(checker.status('nope', 'nope'), 'unknown', 'an unknown server reads as unknown');
});

t.test('ready() waits for the first probe of every enabled target', async (t) => {
  const { port: fast } = await listen(t, (_req, res) => res.end());
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const { port: slow } = await listen(t, (_req, res) => {
    void released.then(() => res.end());
  });
  const checker = new ActiveHealthChecker([
    recordingTarget(fast, healthConfig(), [], 'fast'),
    recordingTarget(slow, healthConfig(), [], 'slow'),
  ]);
  t.teardown(() => checker.stop());
  let ready = false;
  void checker.ready().then(() => {
    ready = true;
  });
  checker.start();
  await until(() => checker.status('blue', 'fast') === 'up', 'fast target probed');
  t.equal(ready, false, 'not ready while one target is unprobed');
  t.equal(checker.isReady, false);
  release();
  await checker.ready();
  t.equal(checker.status('blue', 'slow'), 'up');
});

t.test('a probe that rejects counts as a failure and the loop keeps going', async (t) => {
  let calls = 0;
  const probe: Probe = async () => {
    calls += 1;
    throw new Error('kaboom');
  };
  const warnings: string[] = [];
  const logger: HealthLogger = { info() {}, debug() {}, warn: (_obj, msg) => warnings.push(msg) };
  const target = recordingTarget(1, healthConfig());
  const checker = new ActiveHealthChecker([target], { probe, logger });
  t.teardown(() => checker.stop());
  checker.start();
  await until(() => calls >= 3, 'loop survives a rejecting probe');
  t.equal(checker.status('blue', 'a'), 'down');
  t.same(target.calls.map((c) => c.healthy), [false]);
  t.match(target.calls[0]?.reason, /probe error: kaboom/);
  t.ok(warnings.length >= 3);
});

t.test('a throwing setHealthy does not end the loop', async (t) => {
  const { probe, calls } = scriptedProbe([false, true, true, true]);
  const target: HealthTarget = {
    pool: 'blue',
    id: 'a',
    host: '127.0.0.1',
    port: 1,
    health: healthConfig(),
    setHealthy() {
      throw new Error('setter broke');
    },
  };
  const checker = new ActiveHealthChecker([target], { probe });
  t.teardown(() => checker.stop());
  checker.start();
  await until(() => calls() >= 5, 'script played');
  t.equal(checker.status('blue', 'a'), 'up');
});

t.test('logs at info and publishes an event only on transitions, failures that do not flip at debug', async (t) => {
  // fall 2: up (first), fail, ok, fail, fail → down, then blocks.
  const { probe, calls } = scriptedProbe([true, false, true, false, false]);
  const logs: { level: string; obj: object; msg: string }[] = [];
  const logger: HealthLogger = {
    info: (obj, msg) => logs.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => logs.push({ level: 'warn', obj, msg }),
    debug: (obj, msg) => logs.push({ level: 'debug', obj, msg }),
  };
  const events: HealthFlipEvent[] = [];
  const onFlip = (message: unknown): void => {
    events.push(message as HealthFlipEvent);
  };
  diagnosticsChannel.subscribe(HEALTH_FLIP_CHANNEL, onFlip);
  t.teardown(() => {
    diagnosticsChannel.unsubscribe(HEALTH_FLIP_CHANNEL, onFlip);
  });
  const target = recordingTarget(1, healthConfig({ fall: 2 }));
  const checker = new ActiveHealthChecker([target], { probe, logger });
  checker.start();
  await until(() => calls() === 6, 'script played');
  await checker.stop();

  t.same(
    logs.map((l) => `${l.level}:${l.msg}`),
    ['info:server is up', 'debug:health probe failed', 'debug:health probe failed', 'info:server is down'],
  );
  t.match(logs[3]?.obj, { pool: 'blue', server: 'a', status: 'down' });
  t.same(
    events.map((e) => [e.pool, e.id, e.status, e.source]),
    [
      ['blue', 'a', 'up', 'active'],
      ['blue', 'a', 'down', 'active'],
    ],
  );
  t.same(target.calls.map((c) => c.healthy), [true, false]);
});

t.test('skips debug logging work when debug is disabled', async (t) => {
  const { probe, calls } = scriptedProbe([true, false]);
  let debugs = 0;
  const logger: HealthLogger = { info() {}, warn() {}, debug: () => void (debugs += 1), isLevelEnabled: () => false };
  const checker = new ActiveHealthChecker([recordingTarget(1, healthConfig({ fall: 3 }))], { probe, logger });
  checker.start();
  await until(() => calls() === 3, 'script played');
  await checker.stop();
  t.equal(debugs, 0);
});

t.test('waits at least 90% of the interval between probes', async (t) => {
  const times: number[] = [];
  const inner = scriptedProbe(new Array<boolean>(1000).fill(true)).probe;
  const probe: Probe = (target, signal) => {
    times.push(performance.now());
    return inner(target, signal);
  };
  const checker = new ActiveHealthChecker([recordingTarget(1, healthConfig({ intervalMs: 50 }))], { probe });
  t.teardown(() => checker.stop());
  checker.start();
  await until(() => times.length >= 5, 'five probes');
  await checker.stop();
  for (let i = 1; i < times.length; i++) {
    const gap = (times[i] ?? 0) - (times[i - 1] ?? 0);
    t.ok(gap >= 44, `gap ${gap.toFixed(1)}ms >= 90% of 50ms (1ms timer slack)`);
  }
});

t.test('accepts a pino logger', async (t) => {
  const logger: HealthLogger = pino({ enabled: false });
  const checker = new ActiveHealthChecker([], { logger });
  await checker.ready();
  t.pass();
});

t.test('checks many servers without tripping the abort-listener leak warning', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => {
    warnings.push(`${w.name}: ${w.message}`);
  };
  process.on('warning', onWarning);
  t.teardown(() => {
    process.off('warning', onWarning);
  });
  // Probes block until aborted, so every loop holds a listener at the same time.
  const { probe } = scriptedProbe([]);
  const targets = Array.from({ length: 25 }, (_, i) => recordingTarget(1, healthConfig(), [], `s${i}`));
  const checker = new ActiveHealthChecker(targets, { probe });
  checker.start();
  await checker.stop();
  // Warnings are emitted on process.nextTick; let one pass before looking.
  await new Promise<void>((resolve) => setImmediate(resolve));
  t.same(warnings, []);
});
