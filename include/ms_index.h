/*
 * A repository's directory in an index, as publish writes it (index.c):
 * ORG/NAME/ with REV.torrent, REV.manifest.json + .minisig and refs.json
 * + .minisig.
 *
 * A signed pair FILE + FILE.minisig is replaced so that a crash at any
 * instant leaves something the next publish repairs: the new signature
 * first goes to FILE.minisig.new, then FILE is replaced, then
 * FILE.minisig.new is renamed to FILE.minisig (each step a rename of a
 * file written and fsync'd under a temporary name, then an fsync of the
 * directory). A reader may see, for an instant, FILE new and FILE.minisig
 * old (or, if the publish died there, until the next publish): it reads
 * the pair again once, then tries FILE.minisig.new (see ms_release.h).
 */
#ifndef MS_INDEX_H
#define MS_INDEX_H

#include <stddef.h>

#include "ms_sign.h"

/* the staged signature of FILE: FILE MS_INDEX_STAGED */
#define MS_INDEX_STAGED ".minisig.new"
/* a reader that sees a torn pair reads it again after this long */
#define MS_INDEX_TORN_DELAY_MS 1000

struct ms_index_dir {
	int fd;                /* the directory, flock'd; -1 when closed */
	char path[4096];
};

/* Open and lock (flock) the directory path (made if missing), then clean
 * up after an interrupted publish: temporary files (NAME.tmp.XXXXXX) are
 * removed, and each FILE.minisig.new becomes FILE.minisig if it verifies
 * FILE with pk (FILE was replaced, its signature not yet), else is
 * removed (FILE was not replaced). note(ud, msg) is told each repair.
 * Another publish holding the lock: MS_EAGAIN naming the directory. */
int ms_index_open(struct ms_index_dir *d, const char *path, const struct ms_pubkey *pk,
		  void (*note)(void *ud, const char *msg), void *ud, struct ms_error *err);
/* Unlock and close (d may be closed already). */
void ms_index_close(struct ms_index_dir *d);

/* Write name (a file name in d) atomically and durably. */
int ms_index_write(struct ms_index_dir *d, const char *name, const void *buf, size_t len,
		   struct ms_error *err);
/* Sign text with sk (trusted comment comment) and replace the pair name +
 * name.minisig in the order above. */
int ms_index_write_signed(struct ms_index_dir *d, const char *name, const char *text,
			  size_t len, const struct ms_seckey *sk, const char *comment,
			  struct ms_error *err);

#endif
