// A refusal or failure of the imaging engine, worded for the admin (a product failure like any NetimageError).
import { NetimageError } from '../lib/errors.ts';

export class ImagingError extends NetimageError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('failed', message, options);
    this.name = 'ImagingError';
  }
}
