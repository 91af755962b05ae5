// The server's refusals of a restore without an image to restore name the API's property
// (server_image); the CLI adds its own way to a golden image (room restore and action set).
import { ApiError } from './api-client.ts';
import { NO_COMMON_IMAGE, NO_IMAGES_YET } from '../actions/group-restore.ts';

/** A room without a common image gets `way` (this command's flags); a PC without images the depot listing. */
export function withCliWay(error: unknown, way: string): unknown {
  if (error instanceof ApiError && error.status === 409 && error.message.includes(NO_COMMON_IMAGE)) return new ApiError(409, `${error.message}; with this command: ${way}`);
  if (error instanceof ApiError && error.status === 409 && error.message.includes(NO_IMAGES_YET)) return new ApiError(409, `${error.message} (netimage depot ls lists the golden images)`);
  return error;
}
