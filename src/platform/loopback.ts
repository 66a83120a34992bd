/** Hosts that never leave the machine: the only place plain http is acceptable (development). */
const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])$/;

/** `hostname` as `URL.hostname` gives it (IPv6 in brackets). */
export const isLoopbackHost = (hostname: string): boolean => LOOPBACK.test(hostname);
