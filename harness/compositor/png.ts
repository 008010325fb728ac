// PNG files of read-back pixels, with node:zlib and nothing else: writing RGBA8 PNG is a
// signature, three chunks and a CRC, which does not justify a dependency. The reader
// accepts what common tools write for 8-bit RGB/RGBA (every filter type, no interlace)
// so tests can check an image from any source, and checks every CRC on the way.

import { deflateSync, inflateSync } from 'node:zlib';
import { PngFormatError } from './errors.js';

/** Straight (not premultiplied) RGBA, 8 bits per channel, rows top to bottom. */
export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  /** width * height * 4 bytes. */
  readonly data: Uint8Array;
}

const SIGNATURE = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const COLOR_RGB = 2;
const COLOR_RGBA = 6;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309), as PNG chunks use it. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function chunk(type: string, body: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'ascii');
  out.set(body, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

/** Encodes an RGBA image as PNG (colour type 6, filter 0 on every row). */
export function encodePng(image: RgbaImage): Buffer {
  const { width, height, data } = image;
  if (width <= 0 || height <= 0 || data.length !== width * height * 4) {
    throw new RangeError(`bad image: ${width}x${height} with ${data.length} bytes`);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = COLOR_RGBA;
  const rowBytes = width * 4;
  const raw = Buffer.alloc((rowBytes + 1) * height);
  for (let y = 0; y < height; y++) {
    raw.set(data.subarray(y * rowBytes, (y + 1) * rowBytes), y * (rowBytes + 1) + 1);
  }
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** Decodes an 8-bit RGB or RGBA, non-interlaced PNG into RGBA. */
export function decodePng(png: Uint8Array): RgbaImage {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (buf.length < 8 || !buf.subarray(0, 8).equals(SIGNATURE)) {
    throw new PngFormatError('not a PNG (bad signature)');
  }
  let pos = 8;
  let width = 0;
  let height = 0;
  let colorType = -1;
  const idat: Buffer[] = [];
  for (;;) {
    if (pos + 12 > buf.length) throw new PngFormatError('truncated chunk');
    const length = buf.readUInt32BE(pos);
    const type = buf.toString('ascii', pos + 4, pos + 8);
    if (pos + 12 + length > buf.length) throw new PngFormatError(`truncated ${type} chunk`);
    const body = buf.subarray(pos + 8, pos + 8 + length);
    if (crc32(buf.subarray(pos + 4, pos + 8 + length)) !== buf.readUInt32BE(pos + 8 + length)) {
      throw new PngFormatError(`bad CRC in ${type} chunk`);
    }
    pos += 12 + length;
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      colorType = body[9]!;
      if (body[8] !== 8 || (colorType !== COLOR_RGB && colorType !== COLOR_RGBA)) {
        throw new PngFormatError(`unsupported PNG: depth ${body[8]}, colour type ${colorType}`);
      }
      if (body[12] !== 0) throw new PngFormatError('interlaced PNG not supported');
    } else if (type === 'IDAT') {
      idat.push(body);
    } else if (type === 'IEND') {
      break;
    }
  }
  if (width === 0 || height === 0) throw new PngFormatError('no IHDR');
  const channels = colorType === COLOR_RGBA ? 4 : 3;
  const raw = inflateSync(Buffer.concat(idat));
  const rowBytes = width * channels;
  if (raw.length < (rowBytes + 1) * height) throw new PngFormatError('image data too short');
  const pixels = new Uint8Array(rowBytes * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (rowBytes + 1)]!;
    const src = raw.subarray(y * (rowBytes + 1) + 1, (y + 1) * (rowBytes + 1));
    const row = pixels.subarray(y * rowBytes, (y + 1) * rowBytes);
    const prev = y > 0 ? pixels.subarray((y - 1) * rowBytes, y * rowBytes) : null;
    unfilter(filter, src, row, prev, channels);
  }
  if (channels === 4) return { width, height, data: pixels };
  const data = new Uint8Array(width * height * 4);
  for (let i = 0, j = 0; i < pixels.length; i += 3, j += 4) {
    data[j] = pixels[i]!;
    data[j + 1] = pixels[i + 1]!;
    data[j + 2] = pixels[i + 2]!;
    data[j + 3] = 255;
  }
  return { width, height, data };
}

function unfilter(
  filter: number,
  src: Uint8Array,
  row: Uint8Array,
  prev: Uint8Array | null,
  bpp: number,
): void {
  for (let i = 0; i < src.length; i++) {
    const a = i >= bpp ? row[i - bpp]! : 0;
    const b = prev !== null ? prev[i]! : 0;
    const c = prev !== null && i >= bpp ? prev[i - bpp]! : 0;
    let predictor: number;
    switch (filter) {
      case 0:
        predictor = 0;
        break;
      case 1:
        predictor = a;
        break;
      case 2:
        predictor = b;
        break;
      case 3:
        predictor = (a + b) >>> 1;
        break;
      case 4: {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        break;
      }
      default:
        throw new PngFormatError(`unknown filter type ${filter}`);
    }
    row[i] = (src[i]! + predictor) & 0xff;
  }
}
