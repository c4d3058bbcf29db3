import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

/** What the page needs to know of where it is served: the gateway to connect to (null: the door it came from). */
export interface PageConfig {
  readonly gateway: string | null;
}

const FILES: Readonly<Record<string, readonly [file: string, type: string]>> = {
  '/': ['inspect.html', 'text/html; charset=utf-8'],
  '/inspect.js': ['inspect.js', 'text/javascript; charset=utf-8'],
  '/inspect.css': ['inspect.css', 'text/css; charset=utf-8'],
  '/qiact.js': ['qiact.js', 'text/javascript; charset=utf-8'],
};

/**
 * Where `npm run build` put the page and the browser client: dist/browser, found from this
 * module whether it runs built (dist/src/inspect) or from source (src/inspect, under tsx).
 */
function assetFolder(): string | null {
  for (const relative of ['../../browser/', '../../dist/browser/']) {
    const folder = fileURLToPath(new URL(relative, import.meta.url));
    if (existsSync(`${folder}inspect.html`)) return folder;
  }
  return null;
}

/**
 * Serves the inspector page (`/`), its script and style, the browser client (`/qiact.js`) and
 * `/config.json`. The files are read once; they are public (no data in them: the page asks for
 * a token and gets everything else through a gateway session). Strict headers: scripts and
 * styles from this origin only, WebSockets to this origin or the configured gateway, no
 * framing, no referrer.
 */
export class PageFiles {
  readonly #files = new Map<string, { body: Buffer; type: string }>();
  readonly #csp: string;
  readonly #config: Buffer;
  /** Why there is no page (not built), or null. */
  readonly missing: string | null;

  constructor(config: PageConfig) {
    const folder = assetFolder();
    this.missing = folder === null ? 'the inspector page is not built (run `npm run build`)' : null;
    if (folder !== null) for (const [path, [file, type]] of Object.entries(FILES)) this.#files.set(path, { body: readFileSync(folder + file), type });
    this.#config = Buffer.from(JSON.stringify(config));
    const connect = config.gateway === null ? "'self'" : `'self' ${config.gateway}`;
    this.#csp = `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src ${connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
  }

  /** Answers one HTTP request: the file, 404, 405 for anything but GET and HEAD. */
  serve(request: IncomingMessage, response: ServerResponse): void {
    const headers = { 'content-security-policy': this.#csp, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-cache' };
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { ...headers, allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('only GET\n');
      return;
    }
    const path = (request.url ?? '/').split('?')[0]!;
    const file = path === '/config.json' ? { body: this.#config, type: 'application/json' } : this.#files.get(path);
    if (file === undefined) {
      const why = this.missing ?? `no ${path} here`;
      response.writeHead(this.missing === null ? 404 : 503, { ...headers, 'content-type': 'text/plain' }).end(`${why}\n`);
      return;
    }
    response.writeHead(200, { ...headers, 'content-type': file.type, 'content-length': file.body.length });
    response.end(request.method === 'HEAD' ? undefined : file.body);
  }
}
