// Image names: the rule is lib/image-names.ts (the server checks the same one when an admin sets
// imagefile); here a wrong name stops the job before anything on the disk is touched.
import { ImagingError } from '../errors.ts';
import { ALL_IMAGES, imageNameProblem } from '../../lib/image-names.ts';

export { ALL_IMAGES };

export function normalizeImageName(raw: string): string {
  const problem = imageNameProblem(raw);
  if (problem) throw new ImagingError(problem);
  return raw.trim().replace(/ +/g, '_');
}
