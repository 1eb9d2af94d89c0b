/**
 * bench/lib/procstat — memory and CPU of a child from /proc (Linux only; every
 * reader returns undefined elsewhere, and the report prints "n/a").
 *
 * CPU time per request is the steadiest figure on a shared, noisy machine:
 * req/s moves with whatever else runs, but the CPU a proxy burns per request
 * moves much less, so it is reported beside throughput.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Memory — resident set now and its high-water mark, in KiB. */
export interface Memory {
  readonly rssKiB: number;
  readonly hwmKiB: number;
}

/** readMemory — VmRSS and VmHWM of `pid` from /proc/PID/status. */
export function readMemory(pid: number): Memory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status);
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status);
    if (rss === null || hwm === null) return undefined;
    return { rssKiB: Number(rss[1]), hwmKiB: Number(hwm[1]) };
  } catch {
    return undefined;
  }
}

let clockTicks: number | undefined;

/** ticksPerSecond — USER_HZ (`getconf CLK_TCK`, 100 on every common Linux). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** readCpuSeconds — user+system CPU seconds `pid` has used so far (/proc/PID/stat fields 14 and 15). */
export function readCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
    return (utime + stime) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

/**
 * readMachineBusySeconds — CPU seconds all CPUs spent in user, nice, system and
 * steal since boot (/proc/stat "cpu" line). irq and softirq are left out: with
 * IRQ time accounting the kernel charges them to no process, and on loopback
 * they grow with our own packet rate, so counting them would make the bench's
 * own traffic look like someone else's load. Steal stays in: it is noise too.
 */
export function readMachineBusySeconds(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const [user, nice, system, , , , , steal] = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = (user ?? NaN) + (nice ?? NaN) + (system ?? NaN) + (steal ?? NaN);
    return Number.isFinite(busy) ? busy / ticksPerSecond() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * descendants — every process below `pid` (children, their children, …) from
 * /proc/PID/task/TID/children. nginx answers from a worker forked by its
 * master, so the process the bench started is not the one doing the work:
 * CPU and memory are summed over the whole tree, for every target alike.
 */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  // Bounded: a process tree of a few processes; the cap only guards against a /proc surprise.
  for (let i = 0; i < queue.length && out.length < 256; i++) {
    const p = queue[i] as number;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      let text = '';
      try {
        text = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const c of text.trim().split(/\s+/)) {
        const child = Number(c);
        if (c !== '' && Number.isInteger(child) && !out.includes(child)) {
          out.push(child);
          queue.push(child);
        }
      }
    }
  }
  return out;
}

/** treeCpuSeconds — user+system CPU of `pid` and every descendant now alive (undefined if `pid` is gone). */
export function treeCpuSeconds(pid: number): number | undefined {
  const own = readCpuSeconds(pid);
  if (own === undefined) return undefined;
  return descendants(pid).reduce((sum, p) => sum + (readCpuSeconds(p) ?? 0), own);
}

/** treeRssKiB — resident set of `pid` and every descendant, summed (shared pages counted in each). */
export function treeRssKiB(pid: number): number | undefined {
  const own = readMemory(pid);
  if (own === undefined) return undefined;
  return descendants(pid).reduce((sum, p) => sum + (readMemory(p)?.rssKiB ?? 0), own.rssKiB);
}
