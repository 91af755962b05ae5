// Body limits the admin API takes, in a module of their own: the CLI checks a file against them
// before sending it (over the limit the server answers 413 and closes while the body is still
// being written, which fetch reports only as "write EPIPE").

/** A CSV client import (a room list: about 50 bytes a PC, so some 100,000 PCs). */
export const CSV_BODY_LIMIT = 5 * 1024 * 1024;
