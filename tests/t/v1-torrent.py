"""Write a BitTorrent v1 torrent by hand (what no tool here writes: paths
beyond a v2 file tree's bencode depth, .git components, BEP 47 symlinks).

usage: /usr/bin/python3 v1-torrent.py OUT NAME SPEC...

The torrent is named NAME, with 16 KiB pieces. A SPEC is PATH=SRC (a file
at PATH inside the torrent with the bytes of the file SRC) or PATH@TARGET
(a BEP 47 symlink to TARGET). Prints the info-hash (hex).
"""
import hashlib
import sys


def enc(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(enc(x) for x in v) + b"e"
    return b"d" + b"".join(enc(k) + enc(v[k]) for k in sorted(v)) + b"e"


def main():
    out, name = sys.argv[1:3]
    files, data = [], b""
    for spec in sys.argv[3:]:
        if "=" in spec:
            path, src = spec.split("=", 1)
            with open(src, "rb") as f:
                body = f.read()
            files.append({"length": len(body), "path": path.split("/")})
            data += body
        else:
            path, target = spec.split("@", 1)
            files.append({"length": 0, "path": path.split("/"), "attr": "l",
                          "symlink path": target.split("/")})
    plen = 16384
    pieces = b"".join(hashlib.sha1(data[i:i + plen]).digest()
                      for i in range(0, len(data), plen))
    info = {"files": files, "name": name, "piece length": plen, "pieces": pieces}
    with open(out, "wb") as f:
        f.write(enc({"info": info}))
    print(hashlib.sha1(enc(info)).hexdigest())


main()
