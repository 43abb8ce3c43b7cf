import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Route } from '../../core/rpc/server.js';

/** Where `npm run build:dashboard` puts the dashboard: `dist/dashboard`, beside the compiled manager. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json',
};

/**
 * The page may load and call nothing but this server (no CDN, no fonts, no frames, no form posts elsewhere);
 * uPlot sizes its canvas with style attributes, hence 'unsafe-inline' for styles only.
 */
const HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

interface Asset {
  body: Buffer;
  type: string;
  /** Hashed names (Vite's `assets/…`) never change content: cache them; the page itself is always asked again. */
  immutable: boolean;
}

/**
 * Routes `/` (the page) and `/assets/<file>` (its scripts and styles) from the built dashboard, read once at
 * start. They hold no data: every figure comes from `/rpc/v0` with the token the operator logs in with. A
 * manager started from a checkout where the dashboard was never built answers `/` with how to build it.
 */
export function dashboardRoutes(dir: string = DASHBOARD_DIR): Record<string, Route> {
  const assets = new Map<string, Asset>();
  const index = join(dir, 'index.html');
  const built = existsSync(index);
  if (built) {
    assets.set('/', { body: readFileSync(index), type: TYPES['.html'] as string, immutable: false });
    const assetDir = join(dir, 'assets');
    for (const name of existsSync(assetDir) ? readdirSync(assetDir) : []) {
      const type = TYPES[extname(name)];
      if (type) assets.set(`/assets/${name}`, { body: readFileSync(join(assetDir, name)), type, immutable: true });
    }
  }
  const serve: Route = (req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      req.resume();
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('the dashboard is read with GET\n');
      return;
    }
    const asset = assets.get(path);
    if (!asset) {
      const why = !built && path === '/' ? `the dashboard is not built: run npm run build:dashboard (looked in ${dir})\n` : `no such path ${path}\n`;
      res.writeHead(!built && path === '/' ? 503 : 404, { 'content-type': 'text/plain' }).end(why);
      return;
    }
    res.writeHead(200, {
      ...HEADERS,
      'content-type': asset.type,
      'content-length': asset.body.length,
      'cache-control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  };
  // `/` ends in `/`, so it also catches every path no other route takes: those get the 404 above.
  return { '/assets/': serve, '/': serve };
}
