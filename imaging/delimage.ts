// delimage: remove one image or all of them (imagefile=all_images); returns what is left.
import { ImagingError } from './errors.ts';
import { ALL_IMAGES, normalizeImageName } from './store/names.ts';
import { appendMasterLog, deleteImageDir, listImages, rebuildIndex, recoverStore } from './store/store.ts';

export interface DeleteResult {
  deleted: string[];
  remaining: string[];
}

export async function deleteImages(root: string, imagefile: string, log: (line: string) => void = () => undefined): Promise<DeleteResult> {
  await recoverStore(root);
  const images = (await listImages(root)).map((m) => m.name);
  let targets: string[];
  if (imagefile.trim() === ALL_IMAGES) targets = images;
  else {
    const name = normalizeImageName(imagefile);
    if (!images.includes(name)) throw new ImagingError(`image "${name}" does not exist on the backup partition (images: ${images.join(', ') || 'none'})`);
    targets = [name];
  }
  for (const name of targets) {
    await deleteImageDir(root, name);
    await appendMasterLog(root, `delimage image=${name}`);
    log(`deleted image "${name}"`);
  }
  const index = await rebuildIndex(root);
  return { deleted: targets, remaining: index.images.map((i) => i.name) };
}
