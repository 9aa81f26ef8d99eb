"""Give one file of a torrent a BEP 47 attribute.

usage: /usr/bin/python3 torrent-attr.py IN.torrent OUT.torrent PATH ATTR

PATH is the file's path inside the torrent (without the torrent's name),
ATTR is "x" (executable) or "l" (symlink). Both the v1 file list and the v2
file tree get the attribute. Prints the new v1 and v2 info-hashes (hex,
one a line; "" for a hash the torrent does not have).
"""
import hashlib
import sys


def decode(b, i=0):
    c = b[i:i + 1]
    if c == b"i":
        e = b.index(b"e", i)
        return int(b[i + 1:e]), e + 1
    if c == b"l":
        out, i = [], i + 1
        while b[i:i + 1] != b"e":
            v, i = decode(b, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        out, i = {}, i + 1
        while b[i:i + 1] != b"e":
            k, i = decode(b, i)
            out[k], i = decode(b, i)
        return out, i + 1
    colon = b.index(b":", i)
    n = int(b[i:colon])
    return b[colon + 1:colon + 1 + n], colon + 1 + n


def encode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(encode(x) for x in v) + b"e"
    return b"d" + b"".join(encode(k) + encode(v[k]) for k in sorted(v)) + b"e"


def main():
    src, dst, path, attr = sys.argv[1:5]
    t, _ = decode(open(src, "rb").read())
    info = t[b"info"]
    parts = [p.encode() for p in path.split("/")]
    done = False
    for f in info.get(b"files", []):
        if f[b"path"] == parts:
            f[b"attr"] = attr.encode()
            done = True
    if b"file tree" in info:
        node = info[b"file tree"]
        for p in parts:
            node = node[p]
        node[b""][b"attr"] = attr.encode()
        done = True
    if not done:
        sys.exit("torrent-attr: no file '%s'" % path)
    open(dst, "wb").write(encode(t))
    raw = encode(info)
    print(hashlib.sha1(raw).hexdigest() if b"pieces" in info else "")
    print(hashlib.sha256(raw).hexdigest() if b"file tree" in info else "")


main()
