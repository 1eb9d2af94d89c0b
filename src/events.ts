/**
 * events — the typed event bus. Switches, health flips, ejections and drains
 * are published here; metrics and logs subscribe. The router never calls proxy
 * or metrics code, and the hot path never calls admin code.
 */
import { EventEmitter } from 'node:events';
import type { RoutingSnapshot } from './routing/snapshot.js';

/** RoutingChange — why a new snapshot was installed. */
export interface RoutingChange {
  readonly action: 'init' | 'switch' | 'rollback' | 'weights' | 'maintenance' | 'server-state' | 'server-weight';
  readonly who: string;
  readonly detail: Readonly<Record<string, unknown>>;
}

/** SwitchyardEvents — every event name and its arguments. */
export interface SwitchyardEvents {
  routing: [snapshot: RoutingSnapshot, previous: RoutingSnapshot | undefined, change: RoutingChange];
  health: [pool: string, server: string, healthy: boolean, reason: string];
  ejection: [pool: string, server: string, ejected: boolean, reason: string];
  drained: [pool: string, durationMs: number, complete: boolean];
  warning: [code: string, message: string, detail: Readonly<Record<string, unknown>>];
}

/** EventBus — a typed EventEmitter over SwitchyardEvents. */
export class EventBus {
  readonly #emitter = new EventEmitter();

  constructor() {
    // Observers are few and fixed (metrics, log, drain, tests); a leak warning here is noise.
    this.#emitter.setMaxListeners(100);
  }

  on<K extends keyof SwitchyardEvents>(event: K, listener: (...args: SwitchyardEvents[K]) => void): this {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof SwitchyardEvents>(event: K, listener: (...args: SwitchyardEvents[K]) => void): this {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  emit<K extends keyof SwitchyardEvents>(event: K, ...args: SwitchyardEvents[K]): void {
    this.#emitter.emit(event, ...args);
  }
}
