// Serves the demo over HTTP with the headers LiteRT.js's threaded wasm needs
// (COOP same-origin + COEP require-corp: `python -m http.server` sends neither).
//   node serve.mjs [--port 8000] [--model path/to/defgan.tflite]
// The model (and its sidecar <model>.json) is served at /model/defgan.tflite.
import {createReadStream, existsSync, statSync} from 'node:fs';
import {createServer} from 'node:http';
import {dirname, extname, join, normalize, resolve, sep} from 'node:path';
import {fileURLToPath} from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};
const port = Number(option('--port', '8000'));
const model = resolve(option('--model', join(root, 'model', 'defgan.tflite')));
const types = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.json': 'application/json', '.wasm': 'application/wasm', '.css': 'text/css',
  '.tflite': 'application/octet-stream', '.png': 'image/png', '.jpg': 'image/jpeg',
};

function fileFor(urlPath) {
  if (urlPath === '/') return join(root, 'index.html');
  if (urlPath === '/model/defgan.tflite') return model;
  if (urlPath === '/model/defgan.tflite.json') return `${model}.json`;
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;  // a malformed %-escape: 404, not a crashed server
  }
  // Inside the demo folder only: a sibling such as ../web2/ also starts with `root`.
  const path = normalize(join(root, decoded));
  return path.startsWith(root + sep) ? path : null;
}

createServer((request, response) => {
  const path = fileFor(new URL(request.url, 'http://localhost').pathname);
  const headers = {
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-store',
  };
  if (!path || !existsSync(path) || !statSync(path).isFile()) {
    response.writeHead(404, {...headers, 'Content-Type': 'text/plain'});
    response.end(`not found: ${request.url}\n`);
    return;
  }
  response.writeHead(200, {...headers, 'Content-Type': types[extname(path)] ?? 'text/plain'});
  createReadStream(path).pipe(response);
}).listen(port, '127.0.0.1', () => {
  console.log(`DefGAN demo on http://127.0.0.1:${port}/ (model: ${model})`);
});
