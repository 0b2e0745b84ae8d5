/**
 * Thumbnails for images the user attaches (issue 17): the client core decodes no images,
 * so the page scales one down on a canvas and sends it as the attachment's small second
 * blob. Anything the browser cannot decode simply goes without a thumbnail.
 */

/** Longest side of a thumbnail, in pixels. */
const THUMB_PX = 240;

/** A JPEG of at most 240 px a side, or undefined (not an image, or not decodable here). */
export async function thumbnailOf(file: Blob): Promise<Blob | undefined> {
  if (!file.type.startsWith("image/")) return undefined;
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, THUMB_PX / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext("2d")?.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    return await new Promise((resolve) =>
      canvas.toBlob((b) => resolve(b ?? undefined), "image/jpeg", 0.8),
    );
  } catch {
    return undefined;
  }
}

/** "12 KB", "3.4 MB": a file's size for people. */
export function sizeText(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${Math.round(bytes / 1000)} KB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}
