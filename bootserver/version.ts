// The release of netimage, in its own module so the CLI can print it without loading the server.
export const NETIMAGE_VERSION = '0.1.0';
