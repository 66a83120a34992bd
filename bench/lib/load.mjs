// Load from autocannon, run in-process: rps, p50 and p99 of one scenario against one instance,
// and the CPU time the workerd process spent per request.
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** CPU time (user + system) of a process so far, in ms; NaN off Linux. */
function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/**
 * `request` is an autocannon request (method, path, headers, body, setupRequest, onResponse), or
 * `{ sequence: [...] }`, requests each connection sends in turn, counted as one operation (with
 * `redirects: true` when some of them answer 3xx by design).
 * rps counts every completed request over the run; non-2xx answers are reported, since a
 * scenario that gets errors is measuring the wrong thing. `cpu` is workerd's CPU ms per
 * request, D1's local SQLite work included (on Cloudflare that runs elsewhere).
 */
export async function measure(instance, { connections, seconds, request }) {
  const cpuBefore = cpuMs(instance.child.pid);
  const result = await autocannon({
    url: instance.url,
    connections,
    duration: seconds,
    // A sequence (a passkey sign-in: options, then verify) runs in order on each connection.
    requests: request.sequence ?? [request],
    timeout: 30,
  });
  // Per operation: a sequence of n requests is one operation (one sign-in), n requests' work.
  const operations = result.requests.total / (request.sequence?.length ?? 1);
  const cpu = (cpuMs(instance.child.pid) - cpuBefore) / operations;
  // A scenario with `redirects` (the OAuth code flow) expects its 3xx answers. A wrong one still
  // shows: the request after it then has no interaction or code to send, and fails.
  const redirects = request.redirects
    ? Object.entries(result.statusCodeStats ?? {})
        .filter(([status]) => status.startsWith('3'))
        .reduce((sum, [, { count }]) => sum + count, 0)
    : 0;
  return {
    rps: operations / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpu,
    non2xx: result.non2xx - redirects,
    errors: result.errors + result.timeouts,
  };
}
