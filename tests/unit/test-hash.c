/* test-hash.c: our one-pass hashing builds the very torrent libtorrent's
 * own hashing builds, and the right sha256 / git blob sha1 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ms_torrent.h"
#include "ms_hash.h"
#include "tap.h"

static char tmp[128];

static const struct { const char *path; int64_t size; } spec[] = {
	{ "a-empty", 0 },
	{ "b-one", 1 },
	{ "c-block", 16384 },
	{ "d-block-plus", 16385 },
	{ "e-spans", 32768 * 3 + 5 },
	{ "f/g", 70000 },
	{ "f/h", 40000 },
	{ "f-", 777 },        /* sorts before "f/" bytewise */
	{ "z-piece", 32768 },
	/* around the 4 MiB read chunk: one read of a file shorter than it,
	 * chunks for the others */
	{ "y-chunk-less", (4 << 20) - 1 },
	{ "y-chunk", 4 << 20 },
	{ "y-chunk-more", (4 << 20) + 1 },
};
#define NF (sizeof(spec) / sizeof(spec[0]))

static void make_files(void)
{
	char p[512];

	for (size_t i = 0; i < NF; i++) {
		FILE *f;
		snprintf(p, sizeof(p), "%s/%s", tmp, spec[i].path);
		if (strchr(spec[i].path, '/')) {
			char d[512];
			snprintf(d, sizeof(d), "%s/f", tmp);
			mkdir(d, 0755);
		}
		f = fopen(p, "wb");
		for (int64_t k = 0; k < spec[i].size; k++)
			fputc((int)((k * 131 + i * 7 + (k >> 9)) & 0xff), f);
		fclose(f);
	}
}

static int cmp(const void *a, const void *b)
{
	return strcmp(((const struct ms_build_file *)a)->path,
		      ((const struct ms_build_file *)b)->path);
}

int main(void)
{
	struct ms_build_file bf[NF];
	struct lts_create_file lf[NF];
	struct ms_error err;
	static const unsigned modes[] = { 0, LTS_CREATE_V1_ONLY, LTS_CREATE_V2_ONLY };
	static const char *mname[] = { "hybrid", "v1", "v2" };
	static const int pieces[] = { 16384, 32768, 65536, 0 };

	snprintf(tmp, sizeof(tmp), "/tmp/ms-test-hash.XXXXXX");
	if (!mkdtemp(tmp))
		return 2;
	make_files();
	for (size_t i = 0; i < NF; i++) {
		bf[i].path = spec[i].path;
		bf[i].size = spec[i].size;
		bf[i].want_git = 1;
	}
	qsort(bf, NF, sizeof(bf[0]), cmp);
	for (size_t i = 0; i < NF; i++) {
		lf[i].path = bf[i].path;
		lf[i].size = bf[i].size;
	}

	for (size_t m = 0; m < 3; m++) {
		for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
			struct lts_create_opts co;
			struct ms_build_opts bo;
			unsigned char *a = NULL, *b = NULL;
			size_t al = 0, bl = 0;
			int ra, rb;

			memset(&co, 0, sizeof(co));
			memset(&bo, 0, sizeof(bo));
			/* trackers (one twice: dropped, as libtorrent does) and web
			 * seeds: none, several, one */
			static const char *const tr[] = { "http://t1.example/a", "udp://t2.example:6969",
							  "http://t1.example/a" };
			static const char *const ws[] = { "https://m1.example/x/", "https://m2.example/" };
			co.flags = bo.flags = modes[m];
			co.piece_size = bo.piece_size = pieces[p];
			co.trackers = bo.trackers = p == 1 ? tr : p == 2 ? tr + 1 : NULL;
			co.n_trackers = bo.n_trackers = p == 1 ? 3 : p == 2 ? 1 : 0;
			co.webseeds = bo.webseeds = p == 1 ? ws + 1 : p == 2 ? ws : NULL;
			co.n_webseeds = bo.n_webseeds = p == 1 ? 1 : p == 2 ? 2 : 0;
			bo.name = strrchr(tmp, '/') + 1;
			bo.threads = (int)(p % 3) + 1;
			/* loaded: the roots are the torrent's own */
			lts_torrent *loaded = NULL;
			bo.loaded = &loaded;
			ra = ms_torrent_create(tmp, lf, NF, &co, &a, &al, &err);
			rb = ms_torrent_build(tmp, bf, NF, &bo, &b, &bl, &err);
			ms_torrent_free(loaded);
			bo.loaded = NULL;
			ok(ra == 0 && rb == 0 && al == bl && !memcmp(a, b, al),
			   "%s, piece size %d, %d threads: same torrent as libtorrent's hashing%s%s",
			   mname[m], pieces[p], bo.threads, rb ? ": " : "", rb ? err.msg : "");
			/* what the build says without loading it (publish), against
			 * the torrent loaded: info-hashes, sizes, roots */
			{
				struct ms_torrent_meta said = { 0 }, got = { 0 };
				struct ms_build_file bf2[NF];
				lts_torrent *t = rb ? NULL : ms_torrent_load(b, bl, &err);
				int same = t && !ms_torrent_meta(t, &got, &err);
				unsigned char *c = NULL;
				size_t cl = 0;
				memcpy(bf2, bf, sizeof(bf2));
				bo.meta = &said;
				same = same && !ms_torrent_build(tmp, bf2, NF, &bo, &c, &cl, &err) &&
				       cl == bl && !memcmp(c, b, bl) &&
				       !strcmp(said.hash_v1, got.hash_v1) &&
				       !strcmp(said.hash_v2, got.hash_v2) &&
				       said.piece_length == got.piece_length &&
				       said.num_pieces == got.num_pieces &&
				       said.num_files == got.num_files &&
				       said.total_size == got.total_size &&
				       said.n_trackers == got.n_trackers &&
				       said.n_webseeds == got.n_webseeds && !strcmp(said.name, got.name);
				for (size_t i = 0; same && i < NF; i++)
					same = bf2[i].has_root == bf[i].has_root &&
					       !memcmp(bf2[i].root, bf[i].root, 32);
				ok(same, "%s, piece size %d: info-hashes and roots said without loading",
				   mname[m], pieces[p]);
				ms_torrent_meta_release(&said);
				ms_torrent_meta_release(&got);
				ms_torrent_free(t);
				free(c);
			}
			free(a);
			free(b);
		}
	}

	/* flat sha256 and git blob sha1 of every file */
	{
		int good = 1;
		char cmdline[600];
		for (size_t i = 0; i < NF; i++) {
			char path[512], hex[65], gitline[128] = "";
			unsigned char *data;
			size_t len;
			uint8_t h[32];
			FILE *f;

			snprintf(path, sizeof(path), "%s/%s", tmp, bf[i].path);
			f = fopen(path, "rb");
			data = malloc((size_t)bf[i].size + 1);
			len = fread(data, 1, (size_t)bf[i].size, f);
			fclose(f);
			EVP_Digest(data, len, h, NULL, EVP_sha256(), NULL);
			free(data);
			if (memcmp(h, bf[i].sha256, 32))
				good = 0;
			snprintf(cmdline, sizeof(cmdline), "git hash-object '%s'", path);
			f = popen(cmdline, "r");
			if (!f || !fgets(gitline, sizeof(gitline), f))
				good = 0;
			if (f)
				pclose(f);
			ms_hex(bf[i].git_sha1, 20, hex);
			if (strncmp(gitline, hex, 40)) {
				diag("%s: git %s ours %s", bf[i].path, gitline, hex);
				good = 0;
			}
		}
		ok(good, "sha256 and git blob sha1 match openssl and git hash-object");
	}
	{
		int roots = 1;
		for (size_t i = 0; i < NF; i++)
			if (bf[i].has_root != (bf[i].size > 0))
				roots = 0;
		ok(roots, "every non-empty file has a v2 root");
	}

	/* a file that changes size under us is an error that names it */
	{
		struct ms_build_opts bo;
		unsigned char *b;
		size_t bl;
		memset(&bo, 0, sizeof(bo));
		bo.name = "x";
		bf[0].size += 10;
		ok(ms_torrent_build(tmp, bf, NF, &bo, &b, &bl, &err) != 0 &&
		   strstr(err.msg, bf[0].path), "size mismatch: %s", err.msg);
		bf[0].size -= 10;
	}
	/* many small files and a big one: a hybrid torrent gets pieces small
	 * enough that the pads add at most a quarter (down to 16 KiB); a v1
	 * one (no pads) keeps libtorrent's size */
	{
		enum { NS = 2000 };
		static struct ms_build_file many[NS + 1];
		static char names[NS + 1][32];
		char p[512];
		int ps[2] = { 0, 0 };
		for (int i = 0; i <= NS; i++) {
			FILE *f;
			snprintf(names[i], sizeof(names[i]), i < NS ? "m/s%04d" : "m/z-big", i);
			snprintf(p, sizeof(p), "%s/%s", tmp, names[i]);
			if (!i) {
				char d[512];
				snprintf(d, sizeof(d), "%s/m", tmp);
				mkdir(d, 0755);
			}
			f = fopen(p, "wb");
			if (i < NS)
				fprintf(f, "%0100d", i);
			else if (ftruncate(fileno(f), 64 << 20))
				diag("cannot size %s", p);
			fclose(f);
			memset(&many[i], 0, sizeof(many[i]));
			many[i].path = names[i];
			many[i].size = i < NS ? 100 : 64 << 20;
		}
		for (int m = 0; m < 2; m++) {
			struct ms_build_opts bo;
			struct ms_torrent_meta tm = { 0 };
			unsigned char *b = NULL;
			size_t bl = 0;
			lts_torrent *t = NULL;
			char dir[200];
			memset(&bo, 0, sizeof(bo));
			bo.name = "many";
			bo.flags = m ? LTS_CREATE_V1_ONLY : 0;
			snprintf(dir, sizeof(dir), "%s", tmp);
			if (!ms_torrent_build(dir, many, NS + 1, &bo, &b, &bl, &err) &&
			    (t = ms_torrent_load(b, bl, &err)) && !ms_torrent_meta(t, &tm, &err))
				ps[m] = tm.piece_length;
			ms_torrent_meta_release(&tm);
			ms_torrent_free(t);
			free(b);
		}
		ok(ps[0] == 16384, "many small files, hybrid: 16 KiB pieces (%d)", ps[0]);
		ok(ps[1] > 16384, "the same, v1 only: libtorrent's piece size (%d)", ps[1]);
	}
	/* the piece size settled before the layout is libtorrent's own pick
	 * for a layout of the same total size */
	{
		static const int64_t totals[] = { 1, 2684355, 2684356, 50000000, 3LL << 30,
						  200LL << 30 };
		int same = 1;
		for (size_t m = 0; m < 3; m++)
			for (size_t k = 0; k < sizeof(totals) / sizeof(totals[0]); k++) {
				struct lts_create_file one[2] = { { "a/x", totals[k] / 2 },
								  { "b", totals[k] - totals[k] / 2 } };
				struct lts_create_opts co;
				struct lts_error le;
				lts_creator *c;
				int want;
				memset(&co, 0, sizeof(co));
				co.flags = modes[m];
				co.name = "t";
				c = lts_creator_new(one, 2, &co, &le);
				want = c ? lts_creator_piece_length(c) : -1;
				if (lts_creator_auto_piece_size(totals[k], modes[m]) != want) {
					diag("%s, %lld bytes: %d, libtorrent %d", mname[m],
					     (long long)totals[k],
					     lts_creator_auto_piece_size(totals[k], modes[m]), want);
					same = 0;
				}
				lts_creator_free(c);
			}
		ok(same, "the piece size picked up front is libtorrent's");
	}
	{
		char cmdline[200];
		snprintf(cmdline, sizeof(cmdline), "rm -rf '%s'", tmp);
		if (system(cmdline))
			diag("cannot remove %s", tmp);
	}
	return tap_done();
}
