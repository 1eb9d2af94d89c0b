/**
 * state/validate — checks that an untrusted value (a parsed state file, later
 * an etcd value) is a PersistedState, naming every field that is wrong.
 *
 * The state is written by us, so a wrong shape means a hand edit, a bad
 * restore or a newer format; the caller logs the problem and falls back to the
 * config rather than running with half-understood state.
 */
import type { HistoryEntry, PersistedState, ServerAdminState } from './types.js';

/** MAX_REPORTED_PROBLEMS — a bad 1000-entry history names its first few faults, not all of them. */
const MAX_REPORTED_PROBLEMS = 10;

const ADMIN_STATES: ReadonlySet<string> = new Set<ServerAdminState>(['ready', 'drain', 'maint']);
const ACTIONS: ReadonlySet<string> = new Set<HistoryEntry['action']>(['switch', 'rollback', 'weights']);

/** StateCheck — the outcome of validatePersistedState: the typed state, or what is wrong with it. */
export type StateCheck =
  | { readonly ok: true; readonly state: PersistedState }
  | { readonly ok: false; readonly problems: readonly string[] };

type Rec = Record<string, unknown>;

function isRecord(value: unknown): value is Rec {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** validatePersistedState — returns the value typed as PersistedState, or every problem with its key path. */
export function validatePersistedState(value: unknown): StateCheck {
  const problems: string[] = [];
  const bad = (path: string, want: string, got: unknown): void => {
    problems.push(`${path} must be ${want} (got ${describe(got)})`);
  };

  if (!isRecord(value)) {
    bad('the state', 'a JSON object', value);
    return { ok: false, problems };
  }

  if (value.version !== 1) bad('version', '1', value.version);
  if (!isCount(value.generation)) bad('generation', 'a non-negative integer', value.generation);
  if (typeof value.live !== 'string') bad('live', 'a string', value.live);
  if (value.previous !== null && typeof value.previous !== 'string') bad('previous', 'a string or null', value.previous);
  if (typeof value.maintenance !== 'boolean') bad('maintenance', 'true or false', value.maintenance);

  if (!isRecord(value.weights)) {
    bad('weights', 'an object of pool → weight', value.weights);
  } else {
    for (const [pool, w] of Object.entries(value.weights)) {
      if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) bad(`weights.${pool}`, 'a non-negative number', w);
    }
  }

  if (!isRecord(value.servers)) {
    bad('servers', 'an object of pool → server id → override', value.servers);
  } else {
    for (const [pool, byId] of Object.entries(value.servers)) {
      if (!isRecord(byId)) {
        bad(`servers.${pool}`, 'an object of server id → override', byId);
        continue;
      }
      for (const [id, o] of Object.entries(byId)) {
        const at = `servers.${pool}.${id}`;
        if (!isRecord(o)) {
          bad(at, 'an object', o);
          continue;
        }
        if (o.state !== undefined && (typeof o.state !== 'string' || !ADMIN_STATES.has(o.state))) {
          bad(`${at}.state`, 'one of ready, drain, maint', o.state);
        }
        if (o.weight !== undefined && !isCount(o.weight)) bad(`${at}.weight`, 'a non-negative integer', o.weight);
      }
    }
  }

  if (!Array.isArray(value.history)) {
    bad('history', 'an array', value.history);
  } else {
    value.history.forEach((h: unknown, i: number) => {
      const at = `history[${i}]`;
      if (!isRecord(h)) {
        bad(at, 'an object', h);
        return;
      }
      if (typeof h.at !== 'string' || Number.isNaN(Date.parse(h.at))) bad(`${at}.at`, 'an ISO-8601 time', h.at);
      if (typeof h.action !== 'string' || !ACTIONS.has(h.action)) bad(`${at}.action`, 'one of switch, rollback, weights', h.action);
      if (h.from !== null && typeof h.from !== 'string') bad(`${at}.from`, 'a string or null', h.from);
      if (typeof h.to !== 'string') bad(`${at}.to`, 'a string', h.to);
      if (!isCount(h.generation)) bad(`${at}.generation`, 'a non-negative integer', h.generation);
      if (typeof h.who !== 'string') bad(`${at}.who`, 'a string', h.who);
    });
  }

  if (problems.length > 0) {
    if (problems.length > MAX_REPORTED_PROBLEMS) {
      const more = problems.length - MAX_REPORTED_PROBLEMS;
      problems.length = MAX_REPORTED_PROBLEMS;
      problems.push(`and ${more} more`);
    }
    return { ok: false, problems };
  }
  // Every field the type names was checked above; extra keys are tolerated
  // (and written back unchanged only if the caller keeps them).
  return { ok: true, state: value as unknown as PersistedState };
}
