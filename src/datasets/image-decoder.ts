import sharp, { type Metadata } from 'sharp';

/**
 * Decoding and resizing of uploaded images with sharp (libvips). Its work runs on libuv's thread
 * pool, so thousands of decodes never hold the API's event loop; it refuses truncated and corrupt
 * files (failOn: 'warning' — libpng and libjpeg warn on a cut-off file and would otherwise fill
 * the rest with grey), and images that claim more pixels than MAX_SOURCE_PIXELS before allocating them.
 */

/** A decompression bomb is a few bytes of PNG claiming 50 000 × 50 000 pixels: refused from the header. */
export const MAX_SOURCE_PIXELS = 4096 * 4096;

export const imageExtensions = ['.png', '.jpg', '.jpeg'] as const;

/** Grey (with or without alpha) is 1 channel, colour (RGB, RGBA, CMYK…) 3; alpha is dropped. */
export type Channels = 1 | 3;

export interface ImageHeader {
  width: number;
  height: number;
  channels: Channels;
}

export interface TargetShape {
  width: number;
  height: number;
  channels: Channels;
}

export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
}

const options = { failOn: 'warning', limitInputPixels: MAX_SOURCE_PIXELS, autoOrient: true } as const;
// Every image is read once: libvips's operation cache would only hold memory.
sharp.cache(false);

/** Width, height and channels as stored (after EXIF orientation), from the header only. */
export async function readHeader(bytes: Buffer): Promise<ImageHeader> {
  let metadata: Metadata;
  try {
    metadata = await sharp(bytes, options).metadata();
  } catch (error) {
    throw new ImageDecodeError(reason(error));
  }
  if (metadata.format !== 'png' && metadata.format !== 'jpeg') throw new ImageDecodeError(`is ${metadata.format ?? 'of an unknown format'}, not a PNG or JPEG`);
  const width = metadata.autoOrient?.width ?? metadata.width;
  const height = metadata.autoOrient?.height ?? metadata.height;
  if (!width || !height) throw new ImageDecodeError('has no size in its header');
  if (width * height > MAX_SOURCE_PIXELS) throw new ImageDecodeError(`is ${width}×${height}: more than ${MAX_SOURCE_PIXELS} pixels`);
  const colours = (metadata.channels ?? 3) - (metadata.hasAlpha ? 1 : 0);
  return { width, height, channels: colours >= 3 ? 3 : 1 };
}

/** The pixels as bytes, row-major HWC, resized (stretched, not cropped) to the target when it differs. */
export async function decodeImage(bytes: Buffer, header: ImageHeader, target: TargetShape): Promise<Uint8Array> {
  let pipeline = sharp(bytes, options).removeAlpha();
  pipeline = target.channels === 1 ? pipeline.toColourspace('b-w') : pipeline.toColourspace('srgb');
  if (header.width !== target.width || header.height !== target.height) {
    pipeline = pipeline.resize(target.width, target.height, { fit: 'fill', kernel: 'lanczos3' });
  }
  try {
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    if (info.width !== target.width || info.height !== target.height || info.channels !== target.channels) {
      throw new ImageDecodeError(`decoded to ${info.width}×${info.height}×${info.channels}, not ${target.width}×${target.height}×${target.channels}`);
    }
    return data;
  } catch (error) {
    if (error instanceof ImageDecodeError) throw error;
    throw new ImageDecodeError(reason(error));
  }
}

/** A PNG of raw HWC bytes, scaled up by a whole factor (nearest neighbour) so small images can be seen. */
export async function encodePng(pixels: Uint8Array, width: number, height: number, channels: Channels, scale = 1): Promise<Buffer> {
  const image = sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), { raw: { width, height, channels } });
  const scaled = scale > 1 ? image.resize(width * scale, height * scale, { kernel: 'nearest' }) : image;
  return (channels === 1 ? scaled.toColourspace('b-w') : scaled).png().toBuffer();
}

/** libvips's message, first line only: it may quote internals on following lines. */
function reason(error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error)).split('\n')[0]!.trim();
  if (/unsupported image format/i.test(message)) return 'is not an image sharp can read (corrupt, or not a PNG or JPEG)';
  if (/pixel limit/i.test(message)) return `has more than ${MAX_SOURCE_PIXELS} pixels`;
  return `cannot be decoded (${message})`;
}
