/** How values read on screen. Pure functions, tested in test/demo-format.test.ts. */

/** `JBSWY3DPEHPK3PXP` as `JBSW Y3DP EHPK 3PXP`: easier to read out and type in (apps ignore the spaces). */
export const groupsOfFour = (secret: string) => secret.replace(/(.{4})(?=.)/g, '$1 ');

/*
 * A readable name for a session's device, from the User-Agent its login sent: "Chrome on
 * Linux", "Safari on iPhone", "curl". Only for display: a User-Agent is whatever the client
 * claims, so nothing is decided by it.
 */

/** First match wins: the browsers that borrow another's tokens (Edge, Opera, Samsung say "Chrome") come first. */
const BROWSERS: [RegExp, string][] = [
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'],
  [/\b(?:OPR|Opera)\//, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\bFirefox\/|\bFxiOS\//, 'Firefox'],
  [/\b(?:HeadlessChrome|Chrome|Chromium|CriOS)\//, 'Chrome'],
  [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
];

const SYSTEMS: [RegExp, string][] = [
  [/\biPhone\b/, 'iPhone'],
  [/\biPad\b/, 'iPad'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bLinux\b/, 'Linux'],
];

/** Programs that are not browsers, by their own first token (`curl/8.5.0`, `node`). */
const PROGRAMS: [RegExp, string][] = [
  [/^curl\//i, 'curl'],
  [/^Wget\//i, 'Wget'],
  [/^node(?:\/|$)|^undici\b/i, 'Node.js'],
  [/^Bun\//, 'Bun'],
  [/^Deno\//, 'Deno'],
  [/^python-requests\/|^python-httpx\/|^Python-urllib\//i, 'Python'],
  [/^okhttp\//i, 'Android app'],
];

const first = (table: [RegExp, string][], ua: string) => table.find(([pattern]) => pattern.test(ua))?.[1];

/** A session's device, e.g. "Chrome on Linux" (see above). */
export function deviceName(userAgent: string | null | undefined): string {
  const ua = userAgent?.trim() ?? '';
  if (!ua) return 'Unknown device';
  const program = first(PROGRAMS, ua);
  if (program) return program;
  const browser = first(BROWSERS, ua);
  const system = first(SYSTEMS, ua);
  if (browser && system) return `${browser} on ${system}`;
  if (browser) return browser;
  if (system) return `A browser on ${system}`;
  // Something else that sent a User-Agent: its first token is usually its name.
  return ua.split(/[\s/]/)[0]!.slice(0, 40);
}
