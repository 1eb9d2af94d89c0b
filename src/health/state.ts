/**
 * health/state — the rise/fall threshold state machine behind every health
 * verdict. It only says *whether* the reported health flipped (Pingora's
 * `observe_health` "return true when the health is flipped"), so callers fire
 * logs, events and metrics on transitions and never on every observation.
 */

/** HealthStatus — 'unknown' until the first observation; 'unknown' counts as healthy. */
export type HealthStatus = 'unknown' | 'up' | 'down';

/** HealthStateMachine — rise consecutive successes bring a server up, fall consecutive failures take it down. */
export class HealthStateMachine {
  readonly #rise: number;
  readonly #fall: number;
  #status: HealthStatus = 'unknown';
  /**
   * Consecutive observations that disagree with the current status. One counter
   * is enough: an agreeing observation resets it, which is exactly "the counter
   * resets on the opposite observation" for both the rise and the fall count.
   */
  #streak = 0;

  constructor(rise: number, fall: number) {
    if (!Number.isInteger(rise) || rise < 1) throw new RangeError(`rise must be an integer >= 1, got ${rise}`);
    if (!Number.isInteger(fall) || fall < 1) throw new RangeError(`fall must be an integer >= 1, got ${fall}`);
    this.#rise = rise;
    this.#fall = fall;
  }

  /** status — 'unknown' before the first observation, then 'up' or 'down'. */
  get status(): HealthStatus {
    return this.#status;
  }

  /** healthy — true for 'unknown' too, so a balancer does not refuse all traffic at boot. */
  get healthy(): boolean {
    return this.#status !== 'down';
  }

  /**
   * observe — feeds one probe result; returns true when `healthy` flipped.
   *
   * The first observation decides directly: waiting `fall` probes at boot would
   * send traffic to a server that is plainly dead, and waiting `rise` probes
   * would gain nothing because 'unknown' already takes traffic. Hence unknown →
   * up is not a flip (healthy stays true) while unknown → down is.
   */
  observe(ok: boolean): boolean {
    if (this.#status === 'unknown') {
      this.#status = ok ? 'up' : 'down';
      this.#streak = 0;
      return !ok;
    }
    if (ok === (this.#status === 'up')) {
      this.#streak = 0;
      return false;
    }
    this.#streak += 1;
    if (this.#streak < (ok ? this.#rise : this.#fall)) return false;
    this.#status = ok ? 'up' : 'down';
    this.#streak = 0;
    return true;
  }
}
