#!/bin/sh
test_description='an HTTPS tracker: its certificate is checked against the CAs
OpenSSL finds (the hashed SSL_CERT_DIR, or the SSL_CERT_FILE a user names),
and a fetch finds its seeder through it'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-services.sh"

# write_announce FILE PORT: a tracker answer naming one peer, 127.0.0.1:PORT
# (compact form), which nginx serves to every announce
write_announce () {
	/usr/bin/python3 -c 'import struct, sys
open(sys.argv[1], "wb").write(b"d8:intervali1800e5:peers6:" + bytes([127, 0, 0, 1]) +
                              struct.pack(">H", int(sys.argv[2])) + b"e")' "$1" "$2"
}

nginx_https () {
	echo "listen 127.0.0.1:$https_port ssl;"
	echo "ssl_certificate $TRASH_DIRECTORY/server.pem;"
	echo "ssl_certificate_key $TRASH_DIRECTORY/server.key;"
}

test_expect_success 'setup: a test CA, a certificate for 127.0.0.1, nginx as the tracker' '
	test_ca_cert &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout other.key -out other.pem -days 2 -subj "/CN=another CA" 2>/dev/null &&
	mkdir certs other-certs empty-certs &&
	cp ca.pem certs/ && cp other.pem other-certs/ &&
	openssl rehash certs && openssl rehash other-certs &&
	ls certs | grep "^[0-9a-f]\{8\}\.0$" &&
	ls other-certs | grep "^[0-9a-f]\{8\}\.0$" &&
	gen_repo repo 2 &&
	modelswarm create repo -o repo.torrent --name testorg-model >/dev/null &&
	ms_seed seed repo.torrent repo &&
	mkdir www &&
	write_announce www/announce $seed_port &&
	https_port=$(free_port) &&
	NGINX_SERVER_EXTRA=nginx_https start_nginx www &&
	echo "https://127.0.0.1:$https_port/announce" >tracker-url
'

test_expect_success 'the CA in the hashed SSL_CERT_DIR: the fetch finds its seeder by the tracker' '
	SSL_CERT_DIR=$PWD/certs timeout 120 modelswarm fetch repo.torrent -o out1 $MS_NET \
		--listen 127.0.0.1:0 --tracker "$(cat tracker-url)" >fetch1.out 2>fetch1.err &&
	same_tree repo out1 &&
	test_grep "^GET /announce 200 " "$nginx_log"
'

test_expect_success 'a CA nowhere OpenSSL looks: the tracker is refused, nothing downloaded' '
	: >"$nginx_log" &&
	test_expect_code 124 env SSL_CERT_DIR=$PWD/empty-certs timeout 15 modelswarm fetch \
		repo.torrent -o out2 $MS_NET --listen 127.0.0.1:0 \
		--tracker "$(cat tracker-url)" >fetch2.out 2>fetch2.err &&
	test_grep "tracker .https://127.0.0.1:$https_port/announce.: .*certificate" fetch2.err &&
	! grep "^GET /announce" "$nginx_log" &&
	! cmp -s repo/model-00001-of-00002.safetensors out2/model-00001-of-00002.safetensors
'

test_expect_success 'a user naming the CA bundle with SSL_CERT_FILE gets that bundle' '
	# (the hashed directory holds another CA only)
	SSL_CERT_FILE=$PWD/ca.pem SSL_CERT_DIR=$PWD/other-certs timeout 120 modelswarm fetch \
		repo.torrent -o out3 $MS_NET --listen 127.0.0.1:0 \
		--tracker "$(cat tracker-url)" >fetch3.out 2>fetch3.err &&
	same_tree repo out3
'

test_expect_success 'stop the seeder and nginx' '
	test_kill $seed_pid &&
	test_kill $nginx_pid
'

test_done
