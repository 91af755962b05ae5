// Its own small module: the CLI tells config errors apart without loading the config loader.
import { NetimageError } from '../../lib/errors.ts';

/** A config file or setting that cannot be used; the message starts with "config error:". */
export class ConfigError extends NetimageError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'ConfigError';
  }
}
