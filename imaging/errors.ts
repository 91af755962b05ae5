// A refusal or failure of the imaging engine, worded for the admin (products pass it on as ProductError).
export class ImagingError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ImagingError';
  }
}
