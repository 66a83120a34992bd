/**
 * The one HTML page the Worker renders itself: the OAuth endpoints' answer when they must not
 * redirect (an unknown client, a redirect URI that is not registered). Every other hosted page
 * is a static asset (app/oauth/); this one stays in the Worker because its status must be the
 * error's and it says which error, and it is a few hundred bytes.
 */

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);

/** As strict as the API's own, but for the demo app's stylesheet. */
const PAGE_CSP =
  "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function errorPage(status: 400 | 404, heading: string, message: string, advice: string): Response {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(heading)}</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/app.css">
</head>
<body>
<header><h1>edge-auth</h1></header>
<main>
<section aria-labelledby="error-heading">
<h2 id="error-heading">${escapeHtml(heading)}</h2>
<p role="alert">${escapeHtml(message)}</p>
<p>${escapeHtml(advice)}</p>
</section>
</main>
</body>
</html>
`;
  return new Response(html, {
    status,
    headers: { 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': PAGE_CSP },
  });
}
