#!/bin/sh
test_description='redirects: a public index or mirror cannot send get into the local
network, and an https mirror'"'"'s token never follows a redirect to http'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"
. "$TEST_DIRECTORY/lib-services.sh"

rev=$(fake_rev redirects)
FIXTURE="/usr/bin/python3 $TEST_DIRECTORY/mirror-fixture.py"
# Everything here runs on loopback: 127.0.0.2 stands for a public host
# (a test-only knob of modelswarm's), 127.0.0.1 for the local network.
PUBLIC="env MODELSWARM_TEST_PUBLIC_HOSTS=127.0.0.2"

# the access log names the scheme and the Authorization header
nginx_http () {
	echo "log_format auth '\$scheme \$request_method \$request_uri \$status \"\$http_authorization\"';"
}

# nginx also on 127.0.0.2, and with TLS on 127.0.0.1:$https_port, where a
# plain request (a redirect's target) is served from /plain/ too:
#   /toloop/X  302 to the silent listener, http://127.0.0.1:$silent_port/toloop/X
#   /hop/X     302 to http://127.0.0.2:$nginx_port/X
#   /mirror/X  302 to http://127.0.0.1:$https_port/X (https to http)
nginx_server () {
	cat <<-EOF
	listen 127.0.0.2:$nginx_port;
	listen 127.0.0.1:$https_port ssl;
	ssl_certificate $TRASH_DIRECTORY/server.pem;
	ssl_certificate_key $TRASH_DIRECTORY/server.key;
	access_log $TRASH_DIRECTORY/auth.log auth;
	error_page 497 =200 /plain\$uri;
	location /toloop/ { return 302 http://127.0.0.1:$silent_port\$uri; }
	location ~ ^/hop/(.*)\$ { return 302 http://127.0.0.2:$nginx_port/\$1; }
	location ~ ^/mirror/(.*)\$ { return 302 http://127.0.0.1:$https_port/\$1; }
	EOF
}

# config LINE...: the test config plus LINEs
config () {
	cp base.config "$MODELSWARM_HOME/config" &&
	printf "%s\n" "$@" >>"$MODELSWARM_HOME/config"
}

# get_ok NAME ARGS...: acme/tiny into cache-NAME, from mirrors only (with
# 127.0.0.2 public); the snapshot holds the repo's bytes
get_ok () {
	n=$1
	shift
	$PUBLIC timeout 60 modelswarm get acme/tiny --cache-dir "cache-$n" --json $MS_NET \
		--listen 127.0.0.1:0 --webseeds always "$@" >"$n.out" 2>"$n.err" &&
	same_tree repo "cache-$n/models--acme--tiny/snapshots/$rev"
}

test_expect_success 'setup: a release in an index nginx serves, a listener that must stay silent, TLS' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	cp "$MODELSWARM_HOME/config" base.config &&
	gen_file repo/weights.bin 3000000 &&
	printf "{}\n" >repo/config.json &&
	mkdir -p www/plain &&
	modelswarm publish repo --repo acme/tiny --rev $rev --key acme.key --index www >/dev/null &&
	cp -r repo www/plain/$rev &&
	test_ca_cert &&
	: >silent.log &&
	test_bg silent /usr/bin/python3 -c "
import os, socket, sys
s = socket.socket()
s.bind((\"127.0.0.1\", 0))
s.listen(64)
open(\"silent.port.tmp\", \"w\").write(\"%d\n\" % s.getsockname()[1])
os.rename(\"silent.port.tmp\", \"silent.port\")
while True:
    c, peer = s.accept()
    with open(\"silent.log\", \"a\") as f:
        f.write(\"connection from %s:%d\n\" % peer)
    c.close()
" &&
	wait_for . silent.port 30 &&
	silent_port=$(cat silent.port) &&
	https_port=$(free_port) &&
	NGINX_HTTP_EXTRA=nginx_http NGINX_SERVER_EXTRA=nginx_server start_nginx www &&
	public="http://127.0.0.2:$nginx_port"
'

test_expect_success 'a public index redirecting into the local network: get refuses it by name, nothing reaches the listener' '
	test_must_fail $PUBLIC timeout 60 modelswarm get acme/tiny --index "$public/toloop/" \
		--cache-dir cache-1 $MS_NET --listen 127.0.0.1:0 >1.out 2>1.err &&
	cat 1.err &&
	test_grep "$public/toloop/acme/tiny/refs.json. redirected to the local address 127.0.0.1 port $silent_port: refused" 1.err &&
	test_grep "^http GET /toloop/acme/tiny/refs.json 302 " auth.log &&
	! test -s silent.log
'

test_expect_success '... and so does verify (the blocking fetch)' '
	test_must_fail $PUBLIC modelswarm verify --index "$public/toloop/" acme/tiny >2.out 2>2.err &&
	test_grep "$public/toloop/acme/tiny/refs.json. redirected to the local address 127.0.0.1 port $silent_port: refused" 2.err &&
	! test -s silent.log
'

test_expect_success 'an index the user named on the local network may redirect' '
	$PUBLIC modelswarm verify --index "http://127.0.0.1:$nginx_port/hop/" acme/tiny >3.out &&
	test_grep "^verified acme/tiny@$rev" 3.out &&
	test_grep "^http GET /hop/acme/tiny/refs.json 302 " auth.log &&
	test_grep "^http GET /acme/tiny/refs.json 200 " auth.log
'

test_expect_success 'a public mirror redirecting into the local network: refused, its CDN on loopback hears nothing, another mirror finishes' '
	test_bg fx $FIXTURE --root www --log "$TRASH_DIRECTORY/fx.log" --port-file fx.port \
		--bind 127.0.0.2 --cdn-bind 127.0.0.1 --mode redirect &&
	wait_for . fx.port 30 &&
	fx_url=http://127.0.0.2:$(head -n 1 fx.port) &&
	cdn_port=$(sed -n 2p fx.port) &&
	get_ok 4 --index www --webseed "$fx_url/plain/" \
		--webseed "http://127.0.0.1:$nginx_port/plain/" &&
	test_grep "\"status\": 302" fx.log &&
	! grep "\"listener\": \"cdn\"" fx.log &&
	test_grep "redirected to the local address 127.0.0.1 port $cdn_port: refused" 4.out
'

test_expect_success 'a mirror the user named on the local network may redirect' '
	get_ok 5 --index www --webseed "http://127.0.0.1:$nginx_port/hop/plain/" &&
	test_grep "^http GET /hop/plain/$rev/weights.bin 302 " auth.log &&
	test_grep "^http GET /plain/$rev/weights.bin 206 " auth.log
'

test_expect_success 'an https mirror redirecting to http: its token goes over TLS only' '
	config "mirror-auth.127.0.0.1:$https_port = Bearer t0ken" "webseed-connections = 1" \
		"webseed-request-size = 1M" &&
	: >auth.log &&
	SSL_CERT_FILE=$PWD/ca.pem get_ok 6 --index www \
		--webseed "https://127.0.0.1:$https_port/mirror/" &&
	cat auth.log &&
	test_grep "^https GET /mirror/$rev/weights.bin 302 \"Bearer t0ken\"$" auth.log &&
	test $(grep -c "^http GET /$rev/weights.bin " auth.log) -gt 1 &&
	! grep "^http .*t0ken" auth.log
'

test_done
