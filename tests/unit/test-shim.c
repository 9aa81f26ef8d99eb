/* test-shim.c: the libtorrent C shim on its own, two sessions on 127.0.0.1 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lt_shim.h"
#include "tap.h"

static char tmp[256];

static void write_file(const char *rel, size_t size, unsigned seed)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/src/%s", tmp, rel);
	f = fopen(path, "wb");
	if (!f) {
		perror(path);
		exit(2);
	}
	for (size_t i = 0; i < size; i++)
		fputc((int)((i * 2654435761u + seed) >> 13) & 0xff, f);
	fclose(f);
}

static int files_equal(const char *a, const char *b)
{
	FILE *x = fopen(a, "rb"), *y = fopen(b, "rb");
	int r = x && y;

	while (r) {
		int c = fgetc(x), d = fgetc(y);
		if (c != d)
			r = 0;
		if (c == EOF || d == EOF)
			break;
	}
	if (x)
		fclose(x);
	if (y)
		fclose(y);
	return r;
}

static const struct lts_create_file files[] = {
	{ "a.bin", 300000 },
	{ "empty", 0 },
	{ "sub/b.bin", 70000 },
};

static unsigned char *make(unsigned flags, size_t *len, struct lts_error *err)
{
	struct lts_create_opts o;
	unsigned char *buf = NULL;
	char dir[512];

	memset(&o, 0, sizeof(o));
	o.flags = flags;
	o.piece_size = 32768;
	o.name = "unit";
	snprintf(dir, sizeof(dir), "%s/src", tmp);
	if (lts_create(dir, files, 3, &o, &buf, len, err))
		return NULL;
	return buf;
}

static const struct lts_setting quiet[] = {
	{ "enable_dht", "false" },
	{ "enable_lsd", "false" },
	{ "enable_upnp", "false" },
	{ "enable_natpmp", "false" },
	{ "listen_interfaces", "127.0.0.1:0" },
	{ "enable_outgoing_utp", "false" },
	{ "dht_bootstrap_nodes", "" },
};

/* pop alerts until one of type t (for torrent id, 0 = any) arrives */
static int wait_alert(lts_session *s, int type, int id, int secs,
		      struct lts_alert *copy)
{
	time_t end = time(NULL) + secs;
	struct lts_error err;

	while (time(NULL) < end) {
		const struct lts_alert *a;
		size_t n;
		if (lts_alerts_pop(s, &a, &n, &err))
			return 0;
		for (size_t i = 0; i < n; i++) {
			if (a[i].type == type && (!id || a[i].torrent == id)) {
				if (copy)
					*copy = a[i];
				return 1;
			}
		}
		usleep(20000);
	}
	return 0;
}

int main(void)
{
	struct lts_error err;
	unsigned char *hy, *hy2, *v1, *v2;
	size_t hylen, hy2len, v1len, v2len;
	lts_torrent *t;
	lts_session *s, *leech;
	int id, lid, port = 0;
	char path[512];

	snprintf(tmp, sizeof(tmp), "/tmp/ms-test-shim.XXXXXX");
	if (!mkdtemp(tmp))
		return 2;
	snprintf(path, sizeof(path), "%s/src", tmp);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/src/sub", tmp);
	mkdir(path, 0755);
	write_file("a.bin", 300000, 1);
	write_file("empty", 0, 2);
	write_file("sub/b.bin", 70000, 3);

	/* a failed piece's clear reaches the disk after the writes to that
	 * piece issued before it, and their completions (see ordered_disk_io) */
	char order[512];
	ok(lts_selftest_disk_order(order, sizeof(order)) == 0,
	   "disk clear waits for the writes to its piece: %s", order);

	/* a downloaded piece is gathered, hashed and written whole; its
	 * blocks are reported written only once it is on disk (piece_disk_io) */
	char pieces[512];
	snprintf(path, sizeof(path), "%s/pieces", tmp);
	ok(lts_selftest_piece_writes(path, pieces, sizeof(pieces)) == 0,
	   "piece writes: %s", pieces);

	/* each file's SHA-256 worked out from its pieces as they are written
	 * (lts_add_params.digest_files), and peers asked to wait when too
	 * much is held */
	char digests[512];
	snprintf(path, sizeof(path), "%s/digests", tmp);
	ok(lts_selftest_file_digests(path, digests, sizeof(digests)) == 0,
	   "file digests: %s", digests);

	/* settings by name */
	struct lts_setting bad[] = { { "no_such_setting", "1" } };
	s = lts_session_new(bad, 1, &err);
	ok(!s && err.code == LTS_EINVAL && strstr(err.msg, "no_such_setting"),
	   "unknown setting is refused by name: %s", err.msg);
	struct lts_setting badbool[] = { { "enable_dht", "maybe" } };
	s = lts_session_new(badbool, 1, &err);
	ok(!s && strstr(err.msg, "not a boolean"), "bad boolean is refused");

	/* parsing */
	t = lts_torrent_info_load("junk", 4, &err);
	ok(!t && err.code == LTS_EINVAL && err.msg[0], "junk torrent refused: %s",
	   err.msg);
	t = lts_torrent_info_load(NULL, 0, &err);
	ok(!t && err.code == LTS_EINVAL, "empty torrent refused");

	/* creating */
	hy = make(0, &hylen, &err);
	ok(hy != NULL, "hybrid torrent created %s", hy ? "" : err.msg);
	hy2 = make(0, &hy2len, &err);
	ok(hy2 && hylen == hy2len && !memcmp(hy, hy2, hylen),
	   "same inputs give the same bytes");
	v1 = make(LTS_CREATE_V1_ONLY, &v1len, &err);
	v2 = make(LTS_CREATE_V2_ONLY, &v2len, &err);
	ok(v1 && v2, "v1-only and v2-only torrents created");
	size_t dummy;
	ok(make(LTS_CREATE_V1_ONLY | LTS_CREATE_V2_ONLY, &dummy, &err) == NULL &&
	   err.code == LTS_EINVAL, "v1-only with v2-only is refused");
	{
		struct lts_create_opts o;
		unsigned char *b;
		size_t l;
		memset(&o, 0, sizeof(o));
		o.piece_size = 1000;
		ok(lts_create(tmp, files, 3, &o, &b, &l, &err) == LTS_EINVAL &&
		   strstr(err.msg, "power of two"), "bad piece size refused");
	}

	t = lts_torrent_info_load(hy, hylen, &err);
	ok(t != NULL, "hybrid torrent parses");
	ok(!strcmp(lts_torrent_info_name(t), "unit"), "name is the one asked for");
	ok(strlen(lts_torrent_info_hash_v1(t)) == 40 &&
	   strlen(lts_torrent_info_hash_v2(t)) == 64, "hybrid has v1 and v2 hashes");
	ok(lts_torrent_info_total_size(t) == 370000, "total size excludes pad files");
	{
		int n = lts_torrent_info_num_files(t), pads = 0, real = 0, roots = 0;
		int attrs = 0;
		for (int i = 0; i < n; i++) {
			struct lts_file_info fi;
			lts_torrent_info_file(t, i, &fi);
			if (fi.pad) {
				pads++;
				continue;
			}
			real++;
			roots += fi.has_root;
			attrs += fi.executable + fi.symlink + fi.hidden;
		}
		ok(real == 3 && pads >= 1, "3 files and pad files (%d)", pads);
		ok(roots == 2, "every non-empty file has a v2 root");
		ok(attrs == 0, "no file attributes");
		struct lts_file_info fi;
		lts_torrent_info_file(t, 0, &fi);
		ok(!strcmp(fi.path, "unit/a.bin"), "files sorted, under the name: %s",
		   fi.path);
	}
	lts_torrent_info_free(t);
	t = lts_torrent_info_load(v1, v1len, &err);
	ok(t && strlen(lts_torrent_info_hash_v1(t)) == 40 &&
	   !*lts_torrent_info_hash_v2(t), "v1-only has only a v1 hash");
	lts_torrent_info_free(t);
	t = lts_torrent_info_load(v2, v2len, &err);
	ok(t && !*lts_torrent_info_hash_v1(t) &&
	   strlen(lts_torrent_info_hash_v2(t)) == 64, "v2-only has only a v2 hash");
	lts_torrent_info_free(t);

	/* a seeder session and a leecher session on 127.0.0.1 */
	s = lts_session_new(quiet, sizeof(quiet) / sizeof(quiet[0]), &err);
	ok(s != NULL, "session created");
	struct lts_alert la;
	ok(wait_alert(s, LTS_ALERT_LISTEN_SUCCEEDED, 0, 10, &la) && la.port > 0,
	   "listen alert carries the port");
	port = la.port;

	struct lts_add_params ap;
	memset(&ap, 0, sizeof(ap));
	ap.torrent = hy;
	ap.torrent_len = hylen;
	snprintf(path, sizeof(path), "%s/src", tmp);
	ap.save_path = path;
	ap.flags = LTS_ADD_NO_ROOT;
	id = 0;
	int r = lts_torrent_add(s, &ap, &id, &err);
	ok(r == 0 && id > 0, "torrent added, id %d", id);
	ok(lts_torrent_add(s, &ap, &lid, &err) == LTS_EEXIST, "adding twice is refused");
	ok(wait_alert(s, LTS_ALERT_TORRENT_CHECKED, id, 20, NULL), "checked");
	struct lts_status st;
	ok(lts_torrent_status(s, id, &st, &err) == 0 && st.is_seeding &&
	   st.total_size == 370000, "seeding the files found through NO_ROOT");
	ok(lts_torrent_status(s, 9999, &st, &err) == LTS_ENOENT, "unknown id: %s",
	   err.msg);

	leech = lts_session_new(quiet, sizeof(quiet) / sizeof(quiet[0]), &err);
	snprintf(path, sizeof(path), "%s/dst", tmp);
	mkdir(path, 0755);
	ap.save_path = path;
	ok(lts_torrent_add(leech, &ap, &lid, &err) == 0, "leecher added");
	ok(lts_torrent_connect_peer(leech, lid, "127.0.0.1", port, &err) == 0,
	   "dial the seeder");
	ok(lts_torrent_connect_peer(leech, lid, "not-an-ip", port, &err) == LTS_EINVAL,
	   "dialing a name is refused");
	ok(wait_alert(leech, LTS_ALERT_TORRENT_FINISHED, lid, 60, NULL),
	   "leecher finished");
	{
		char a[512], b[512];
		snprintf(a, sizeof(a), "%s/src/a.bin", tmp);
		snprintf(b, sizeof(b), "%s/dst/a.bin", tmp);
		int same = files_equal(a, b);
		snprintf(a, sizeof(a), "%s/src/sub/b.bin", tmp);
		snprintf(b, sizeof(b), "%s/dst/sub/b.bin", tmp);
		ok(same && files_equal(a, b), "leecher has the same bytes");
	}
	ok(lts_torrent_status(leech, lid, &st, &err) == 0 &&
	   st.payload_download >= 370000 && st.peer_download == st.payload_download,
	   "payload counted as from peers");
	{
		/* many at once: the same figures, unknown ids left out */
		int ids[3] = { 9999, lid, -1 }, found[3] = { 7, 7, 7 };
		struct lts_status many[3];
		memset(many, 0xab, sizeof(many));
		ok(lts_torrents_status(leech, ids, many, found, 3, &err) == 1 &&
		   !found[0] && found[1] && !found[2], "batched status finds the one torrent");
		ok(many[1].payload_download == st.payload_download &&
		   many[1].total_size == st.total_size && many[1].state == st.state &&
		   many[1].is_finished && many[1].num_pieces == st.num_pieces,
		   "batched status has the same figures as the single one");
		ok(lts_torrents_status(leech, ids, many, found, 0, &err) == 0,
		   "batched status of nothing");
	}
	{
		int64_t fp[8];
		int n = lts_torrent_file_progress(leech, lid, fp, 8, &err);
		ok(n >= 3 && fp[0] == 300000, "per-file progress");
	}
	ok(lts_torrent_save_resume(leech, lid, 1, &err) == 0, "save resume asked");
	struct lts_alert ra;
	ok(wait_alert(leech, LTS_ALERT_SAVE_RESUME, lid, 10, &ra) && ra.data_len > 0,
	   "resume data delivered as bytes");
	ok(lts_torrent_remove(leech, lid, 0, &err) == 0, "remove asked");
	ok(wait_alert(leech, LTS_ALERT_TORRENT_REMOVED, lid, 10, NULL),
	   "removed alert maps back to the id");
	ok(lts_torrent_pause(leech, lid, &err) == LTS_ENOENT, "id gone after removal");

	/* pieces handed in by the caller (as from an HTTP mirror) */
	{
		lts_torrent *ti = lts_torrent_info_load(hy, hylen, &err);
		int plen = ti ? lts_torrent_info_piece_length(ti) : 0, hid = 0;
		unsigned char st8[64], *piece = calloc(1, (size_t)plen + 1);
		struct lts_alert ha;
		char a[512];
		FILE *f;

		snprintf(a, sizeof(a), "%s/src/a.bin", tmp);
		f = fopen(a, "rb");
		ok(ti && piece && f && plen < 300000 &&
		   fread(piece, 1, (size_t)plen, f) == (size_t)plen, "piece 0 read");
		if (f)
			fclose(f);
		snprintf(path, sizeof(path), "%s/hand", tmp);
		mkdir(path, 0755);
		ap.save_path = path;
		ok(lts_torrent_add(leech, &ap, &hid, &err) == 0 &&
		   wait_alert(leech, LTS_ALERT_TORRENT_CHECKED, hid, 20, NULL), "added");
		ok(lts_torrent_piece_states(leech, hid, st8, 64, &err) ==
			   lts_torrent_info_num_pieces(ti) && st8[0] == LTS_PIECE_MISSING,
		   "piece 0 missing");
		ok(lts_torrent_add_piece(leech, hid, 0, piece, (size_t)plen - 1, 0, &err) ==
			   LTS_EINVAL, "a piece of the wrong size is refused: %s", err.msg);
		piece[100] ^= 0xff;
		ok(lts_torrent_add_piece(leech, hid, 0, piece, (size_t)plen, 0, &err) == 0 &&
		   wait_alert(leech, LTS_ALERT_HASH_FAILED, hid, 20, &ha) && ha.piece == 0,
		   "wrong bytes fail the hash check");
		piece[100] ^= 0xff;
		ok(lts_torrent_add_piece(leech, hid, 0, piece, (size_t)plen, 1, &err) == 0 &&
		   wait_alert(leech, LTS_ALERT_PIECE_FINISHED, hid, 20, &ha) && ha.piece == 0,
		   "the right bytes handed in again (overwrite) pass");
		ok(lts_torrent_piece_states(leech, hid, st8, 64, &err) > 1 &&
		   st8[0] == LTS_PIECE_HAVE && st8[1] == LTS_PIECE_MISSING, "piece 0 is had");
		piece[0] ^= 0xff;
		ok(lts_torrent_add_piece(leech, hid, 0, piece, (size_t)plen, 1, &err) == 0 &&
		   !wait_alert(leech, LTS_ALERT_HASH_FAILED, hid, 2, NULL) &&
		   lts_torrent_piece_states(leech, hid, st8, 64, &err) > 0 &&
		   st8[0] == LTS_PIECE_HAVE, "a verified piece is never written over");
		ok(lts_torrent_remove(leech, hid, 0, &err) == 0 &&
		   wait_alert(leech, LTS_ALERT_TORRENT_REMOVED, hid, 10, NULL), "removed");
		free(piece);
		lts_torrent_info_free(ti);
	}

	/* files the caller vouches for: their pieces are had without a
	 * check, the others' are missing */
	{
		lts_torrent *ti = lts_torrent_info_load(hy, hylen, &err);
		int nf = ti ? lts_torrent_info_num_files(ti) : 0, hid = 0, checking = 0;
		int np = ti ? lts_torrent_info_num_pieces(ti) : 0, a_end = 0, got = 0;
		unsigned char *have = calloc((size_t)nf + 1, 1), st8[64];
		time_t end = time(NULL) + 20;

		snprintf(path, sizeof(path), "%s/have", tmp);
		mkdir(path, 0755);
		write_file("../have/a.bin", 300000, 1);
		for (int i = 0; i < nf; i++) {
			struct lts_file_info fi;
			if (lts_torrent_info_file(ti, i, &fi) == 0 && !strcmp(fi.path, "unit/a.bin"))
				have[i] = 1;
		}
		ap.save_path = path;
		ap.have_files = have;
		ap.n_have_files = (size_t)nf + 1;
		ok(lts_torrent_add(leech, &ap, &hid, &err) == LTS_EINVAL,
		   "a flag count that is not the file count is refused: %s", err.msg);
		ap.n_have_files = (size_t)nf;
		ok(lts_torrent_add(leech, &ap, &hid, &err) == 0, "added with a.bin vouched for");
		while (!got && time(NULL) < end) {
			const struct lts_alert *a;
			size_t n;
			if (lts_alerts_pop(leech, &a, &n, &err))
				break;
			for (size_t i = 0; i < n; i++) {
				if (a[i].torrent != hid)
					continue;
				if (a[i].type == LTS_ALERT_STATE_CHANGED &&
				    a[i].value == LTS_STATE_CHECKING_FILES)
					checking = 1;
				if (a[i].type == LTS_ALERT_TORRENT_CHECKED)
					got = 1;
			}
			usleep(20000);
		}
		ok(got && !checking, "ready without hashing the files");
		/* a.bin is 300000 bytes: pieces 0-9 (the last with its pad) */
		a_end = (300000 + 32767) / 32768;
		ok(np > a_end && np <= 64 &&
		   lts_torrent_piece_states(leech, hid, st8, 64, &err) == np &&
		   st8[0] == LTS_PIECE_HAVE && st8[a_end - 1] == LTS_PIECE_HAVE &&
		   st8[a_end] != LTS_PIECE_HAVE && st8[np - 1] != LTS_PIECE_HAVE,
		   "a.bin's pieces are had, b.bin's are not");
		ap.have_files = NULL;
		ap.n_have_files = 0;

		/* priorities given at add win over the resume data's (saved
		 * here with b.bin at 0) */
		{
			int *prio = calloc((size_t)nf + 1, sizeof(*prio)), b_piece = np - 1;
			struct lts_alert ra2;
			unsigned char *res = NULL;
			size_t rlen = 0;

			for (int i = 0; i < nf; i++) {
				struct lts_file_info fi;
				prio[i] = lts_torrent_info_file(ti, i, &fi) == 0 &&
					  !strcmp(fi.path, "unit/sub/b.bin") ? 0 : 4;
			}
			ok(lts_torrent_set_file_priorities(leech, hid, prio, nf, &err) == 0,
			   "b.bin unwanted");
			/* the change goes through the disk thread first */
			for (int i = 0; i < 250; i++) {
				if (lts_torrent_piece_states(leech, hid, st8, 64, &err) == np &&
				    st8[b_piece] == LTS_PIECE_SKIP)
					break;
				usleep(20000);
			}
			ok(st8[b_piece] == LTS_PIECE_SKIP &&
			   lts_torrent_save_resume(leech, hid, 1, &err) == 0 &&
			   wait_alert(leech, LTS_ALERT_SAVE_RESUME, hid, 10, &ra2) &&
			   (res = malloc(ra2.data_len)) != NULL,
			   "resume data saved with b.bin unwanted");
			if (res) {
				memcpy(res, ra2.data, ra2.data_len);
				rlen = ra2.data_len;
			}
			ok(lts_torrent_remove(leech, hid, 0, &err) == 0 &&
			   wait_alert(leech, LTS_ALERT_TORRENT_REMOVED, hid, 10, NULL), "removed");
			ap.resume = res;
			ap.resume_len = rlen;
			ok(lts_torrent_add(leech, &ap, &hid, &err) == 0 &&
			   wait_alert(leech, LTS_ALERT_TORRENT_CHECKED, hid, 10, NULL) &&
			   lts_torrent_piece_states(leech, hid, st8, 64, &err) == np &&
			   st8[b_piece] == LTS_PIECE_SKIP,
			   "added again from it: b.bin's pieces are skipped");
			ok(lts_torrent_remove(leech, hid, 0, &err) == 0 &&
			   wait_alert(leech, LTS_ALERT_TORRENT_REMOVED, hid, 10, NULL), "removed");
			for (int i = 0; i < nf; i++)
				prio[i] = 4;
			ap.file_priorities = prio;
			ap.n_file_priorities = (size_t)nf + 1;
			ok(lts_torrent_add(leech, &ap, &hid, &err) == LTS_EINVAL,
			   "a priority count that is not the file count is refused: %s", err.msg);
			ap.n_file_priorities = (size_t)nf;
			{
				/* file digests: one flag a file, and only with metadata */
				unsigned char *dig = calloc((size_t)nf + 1, 1);
				struct lts_add_params mp;

				ap.digest_files = dig;
				ap.n_digest_files = (size_t)nf + 1;
				ok(dig && lts_torrent_add(leech, &ap, &hid, &err) == LTS_EINVAL &&
				   strstr(err.msg, "digest flags"),
				   "a digest flag count that is not the file count is refused: %s",
				   err.msg);
				ap.digest_files = NULL;
				ap.n_digest_files = 0;
				memset(&mp, 0, sizeof(mp));
				mp.magnet = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567";
				mp.save_path = ap.save_path;
				mp.digest_files = dig;
				mp.n_digest_files = 1;
				ok(dig && lts_torrent_add(leech, &mp, &hid, &err) == LTS_EINVAL &&
				   strstr(err.msg, "metadata"),
				   "file digests by magnet (no metadata yet) are refused: %s", err.msg);
				free(dig);
			}
			ok(lts_torrent_add(leech, &ap, &hid, &err) == 0 &&
			   wait_alert(leech, LTS_ALERT_TORRENT_CHECKED, hid, 10, NULL) &&
			   lts_torrent_piece_states(leech, hid, st8, 64, &err) == np &&
			   st8[b_piece] == LTS_PIECE_MISSING && st8[0] == LTS_PIECE_HAVE,
			   "with priorities given: b.bin is wanted, a.bin still had");
			ap.file_priorities = NULL;
			ap.n_file_priorities = 0;
			ap.resume = NULL;
			ap.resume_len = 0;
			free(res);
			free(prio);
		}
		free(have);
		lts_torrent_info_free(ti);
	}

	/* a dormant torrent: out of the seeder's session, woken by a
	 * leecher's handshake, ready at once */
	{
		char tpath[512], rpath[512], dst[512], a[512], b[512];
		struct lts_alert wa;
		lts_session *l2;
		int wid, nt = -1;

		ok(lts_torrent_save_resume(s, id, 1, &err) == 0 &&
		   wait_alert(s, LTS_ALERT_SAVE_RESUME, id, 10, &ra) && ra.data_len > 0,
		   "the seed's resume data");
		snprintf(tpath, sizeof(tpath), "%s/d.torrent", tmp);
		snprintf(rpath, sizeof(rpath), "%s/d.resume", tmp);
		{
			FILE *f = fopen(rpath, "wb");
			int w = f && fwrite(ra.data, 1, ra.data_len, f) == ra.data_len;
			w = f && !fclose(f) && w;
			f = fopen(tpath, "wb");
			w = w && f && fwrite(hy, 1, hylen, f) == hylen;
			w = f && !fclose(f) && w;
			ok(w, "torrent and resume data written");
		}
		ok(lts_dormant_add(s, tpath, rpath, 42, &nt, &err) == LTS_EEXIST,
		   "a torrent in the session cannot be dormant too: %s", err.msg);
		ok(lts_torrent_remove(s, id, LTS_REMOVE_QUIET, &err) == 0 &&
		   wait_alert(s, LTS_ALERT_TORRENT_REMOVED, id, 10, NULL), "seed removed");
		snprintf(a, sizeof(a), "%s/none.resume", tmp);
		ok(lts_dormant_add(s, tpath, a, 41, NULL, &err) != 0 && strstr(err.msg, "none.resume"),
		   "missing resume data is refused at once: %s", err.msg);
		ok(lts_dormant_add(s, tpath, rpath, 42, &nt, &err) == 0 && nt == 0,
		   "dormant, with no tracker to announce to");
		ok(lts_dormant_add(s, tpath, rpath, 43, NULL, &err) == LTS_EEXIST,
		   "the same torrent twice is refused");
		ok(lts_dormant_count(s) == 1, "one dormant torrent");
		ok(lts_torrent_add(s, &ap, &wid, &err) == LTS_EEXIST,
		   "adding a dormant torrent is refused: %s", err.msg);

		l2 = lts_session_new(quiet, sizeof(quiet) / sizeof(quiet[0]), &err);
		snprintf(dst, sizeof(dst), "%s/dst2", tmp);
		mkdir(dst, 0755);
		ap.save_path = dst;
		ok(l2 && lts_torrent_add(l2, &ap, &lid, &err) == 0 &&
		   lts_torrent_connect_peer(l2, lid, "127.0.0.1", port, &err) == 0,
		   "a leecher dials the seeder");
		ok(wait_alert(s, LTS_ALERT_TORRENT_WOKEN, 0, 30, &wa) && wa.value == 42 &&
		   wa.torrent > 0 && wa.error == 0, "woken, with cookie 42 and an id");
		wid = wa.torrent;
		ok(wait_alert(l2, LTS_ALERT_TORRENT_FINISHED, lid, 60, NULL),
		   "the leecher got it all from the woken torrent");
		snprintf(a, sizeof(a), "%s/src/a.bin", tmp);
		snprintf(b, sizeof(b), "%s/dst2/a.bin", tmp);
		ok(files_equal(a, b), "the same bytes");
		ok(lts_torrent_status(s, wid, &st, &err) == 0 && st.is_seeding &&
		   st.payload_upload > 0, "the woken torrent is a seed with an id");
		ok(lts_dormant_count(s) == 0 && lts_dormant_remove(s, 42, &err) == LTS_ENOENT,
		   "no longer dormant");
		lts_session_free(l2);
	}

	lts_session_free(leech);
	lts_session_free(s);
	free(hy);
	free(hy2);
	free(v1);
	free(v2);
	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd))
			diag("could not remove %s", tmp);
	}
	return tap_done();
}
