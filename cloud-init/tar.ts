// A minimal, deterministic ustar writer: fixed owner (root), fixed mtime, entries in the given
// order, regular files only (tar creates parent directories on extraction). Same input → same bytes.

export interface TarEntry {
  /** Relative path, e.g. `usr/local/lib/xiopro/bootstrap`; at most 100 bytes. */
  path: string;
  mode: number;
  content: string;
}

/** 2026-01-01T00:00:00Z: a fixed mtime so the archive never changes on its own. */
const MTIME = 1767225600;

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

function header(e: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(512, 0);
  const name = Buffer.from(e.path);
  if (name.length > 100 || e.path.startsWith("/") || e.path.split("/").includes(".."))
    throw new Error(`tar: bad path ${e.path}`);
  name.copy(h, 0);
  h.write(octal(e.mode, 8), 100, "ascii");
  h.write(octal(0, 8), 108, "ascii");
  h.write(octal(0, 8), 116, "ascii");
  h.write(octal(size, 12), 124, "ascii");
  h.write(octal(MTIME, 12), 136, "ascii");
  h.write("        ", 148, "ascii"); // checksum field counts as spaces while summing
  h.write("0", 156, "ascii");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  h.write("root", 265, "ascii");
  h.write("root", 297, "ascii");
  const sum = h.reduce((a, b) => a + b, 0);
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "ascii");
  return h;
}

export function tar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.content);
    parts.push(header(e, body.length), body, Buffer.alloc((512 - (body.length % 512)) % 512, 0));
  }
  parts.push(Buffer.alloc(1024, 0));
  return Buffer.concat(parts);
}
