// The baseline of the PDF benchmark: the ticket documents `pdf-bench in-process` wrote as
// HTML, printed to PDF by headless Chromium the way Puppeteer-based PDF services do it. One
// browser is launched once and one page kept open. Each document is timed from its ticket
// data to the PDF bytes, as the typst renderer is: its QR codes drawn as SVG (the `qrcode`
// package, error correction M, quiet zone 4) into the HTML's `<!--qr:N-->` placeholders,
// then `setContent` + `pdf` on that page. Documents marked `warmup` in the manifest are
// printed first and not counted.
//
//   node print.mjs --dir <dir with manifest.json> [--fonts <dir>] [--chromium <path>]
//                  [--concurrency <n>]
//
// Prints one JSON object: per size ("1", "4" pages) documents, pages, p50_ms, p99_ms,
// pages_per_s and qr_ms (the mean time of a document's QR codes, part of its time), plus
// the browser's version; with a concurrency above 1 also the pages per second of a second
// pass over the same documents on that many pages printing at once.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import puppeteer from 'puppeteer-core';
import QRCode from 'qrcode';

function args(argv) {
  const out = { dir: null, fonts: null, chromium: '/usr/bin/chromium', concurrency: '1' };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in out) || argv[i + 1] === undefined) {
      throw new Error(
        'usage: node print.mjs --dir <dir> [--fonts <dir>] [--chromium <path>] [--concurrency <n>]',
      );
    }
    out[key] = argv[i + 1];
  }
  if (!out.dir) throw new Error('--dir is required');
  out.concurrency = Number(out.concurrency);
  if (!Number.isInteger(out.concurrency) || out.concurrency < 1) {
    throw new Error('--concurrency must be a whole number of at least 1');
  }
  return out;
}

// The fonts the typst template uses, made visible to Chromium as installed fonts (through a
// fontconfig file that adds their directory to the system's), as a service's image would
// have them: nothing is loaded per document. Beside them the bold face of Noto Sans (in
// `fonts/` here): the HTML sets its headings in bold, as an HTML ticket would, and a
// service's image would have that face (the typst template draws them heavier with the
// regular face and embeds that one font only).
const BOLD_FACE_DIR = fileURLToPath(new URL('./fonts', import.meta.url));

function fontconfigWith(fontsDir) {
  const dir = mkdtempSync(join(tmpdir(), 'td-pdf-bench-fonts-'));
  const file = join(dir, 'fonts.conf');
  writeFileSync(
    file,
    `<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig>
  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>
  <dir>${resolve(fontsDir)}</dir>
  <dir>${BOLD_FACE_DIR}</dir>
  <cachedir>${join(dir, 'cache')}</cachedir>
</fontconfig>
`,
  );
  return file;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

const opts = args(process.argv.slice(2));
const manifest = JSON.parse(readFileSync(join(opts.dir, 'manifest.json'), 'utf8'));
const env = { ...process.env };
if (opts.fonts) env.FONTCONFIG_FILE = fontconfigWith(opts.fonts);

const browser = await puppeteer.launch({
  executablePath: opts.chromium,
  headless: true,
  env,
  args: [
    '--headless=new',
    '--no-sandbox',
    '--disable-setuid-sandbox',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-extensions',
    '--font-render-hinting=none',
  ],
});
try {
  const page = await browser.newPage();
  // Returns the document's time and the part of it spent drawing its QR codes.
  const print = async (doc, on = page) => {
    const template = readFileSync(join(opts.dir, doc.file), 'utf8');
    const started = performance.now();
    let html = template;
    for (const [i, payload] of doc.qr.entries()) {
      const svg = await QRCode.toString(payload, {
        type: 'svg',
        errorCorrectionLevel: 'M',
        margin: 4,
      });
      html = html.replace(`<!--qr:${i}-->`, () => svg);
    }
    const qrMs = performance.now() - started;
    await on.setContent(html, { waitUntil: 'load' });
    const pdf = await on.pdf({ format: 'A4', printBackground: true });
    const ms = performance.now() - started;
    if (pdf.length < 5 || Buffer.from(pdf.subarray(0, 5)).toString('latin1') !== '%PDF-') {
      throw new Error(`${doc.file}: Chromium did not return a PDF`);
    }
    return { ms, qrMs };
  };

  for (const doc of manifest.documents.filter((d) => d.warmup)) await print(doc);

  const sizes = {};
  for (const doc of manifest.documents.filter((d) => !d.warmup)) {
    // Documents are read from disk before the clock starts; reading is not printing.
    const { ms, qrMs } = await print(doc);
    const size = (sizes[String(doc.pages)] ??= { latencies: [], pages: 0, qrMs: 0 });
    size.latencies.push(ms);
    size.pages += doc.pages;
    size.qrMs += qrMs;
  }

  // The same documents again on `concurrency` pages printing at once, as a Puppeteer-based
  // service with a pool of pages does: pages per second of wall-clock time.
  const parallel = { concurrency: opts.concurrency, sizes: {} };
  if (opts.concurrency > 1) {
    const pages = [page];
    while (pages.length < opts.concurrency) pages.push(await browser.newPage());
    for (const size of Object.keys(sizes)) {
      const docs = manifest.documents.filter((d) => !d.warmup && String(d.pages) === size);
      let next = 0;
      const started = performance.now();
      await Promise.all(
        pages.map(async (p) => {
          while (next < docs.length) await print(docs[next++], p);
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const total = docs.reduce((a, d) => a + d.pages, 0);
      parallel.sizes[size] = { pages: total, pages_per_s: Number((total / seconds).toFixed(2)) };
    }
  }

  const result = { browser: await browser.version(), sizes: {}, parallel };
  for (const [pages, { latencies, pages: total, qrMs }] of Object.entries(sizes)) {
    const sorted = [...latencies].sort((a, b) => a - b);
    const seconds = latencies.reduce((a, b) => a + b, 0) / 1000;
    result.sizes[pages] = {
      documents: latencies.length,
      pages: total,
      p50_ms: Number(percentile(sorted, 50).toFixed(3)),
      p99_ms: Number(percentile(sorted, 99).toFixed(3)),
      pages_per_s: Number((total / seconds).toFixed(2)),
      qr_ms: Number((qrMs / latencies.length).toFixed(3)),
    };
  }
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
